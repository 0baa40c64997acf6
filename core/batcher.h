#pragma once
// Runs requests of one kind on a WorkerPool in batches of whatever has queued up: each
// request posts a drain task; the first worker to get to one takes every waiting request (up
// to max_batch) and runs them in one call. A lone request runs at once, alone, so batching
// adds no latency when the server is idle; under load, requests that would wait for a
// worker anyway share one pass of the model and the vector index instead.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/outcome.h"
#include "core/worker_pool.h"

namespace opsis {

template <typename In, typename Out>
class Batcher {
public:
    // run_batch returns one outcome per input, in order. If it throws, every input of that
    // batch gets the exception.
    using RunBatch = std::function<std::vector<Outcome<Out>>(const std::vector<In>&)>;

    Batcher(WorkerPool& pool, std::size_t max_batch, RunBatch run_batch)
        : pool_(pool), max_batch_(std::max<std::size_t>(1, max_batch)), run_batch_(std::move(run_batch)) {}
    ~Batcher() {  // drain tasks still queued on the pool refer to this
        std::unique_lock lock(mutex_);
        idle_.wait(lock, [&] { return drains_ == 0; });
    }
    Batcher(const Batcher&) = delete;
    Batcher& operator=(const Batcher&) = delete;

    // Queues the input; `done` gets its outcome on the worker that ran its batch. `done`
    // must not throw. A batch takes its inputs by turns between clients (`client` keys), so
    // one client's many requests cannot fill every batch while another's waits.
    void submit(In input, std::function<void(Outcome<Out>)> done, const std::string& client = {}) {
        {
            std::lock_guard lock(mutex_);
            waiting_.push_back({std::move(input), std::move(done), client});
            ++drains_;
        }
        pool_.post([this] { drain(); }, client);
    }

    // Blocks until the input's batch has run; returns its value or rethrows its exception.
    Out run(In input) {
        std::promise<Outcome<Out>> promise;
        std::future<Outcome<Out>> result = promise.get_future();
        submit(std::move(input), [&promise](Outcome<Out> outcome) { promise.set_value(std::move(outcome)); });
        return take(result.get());
    }

    // Requests queued and not yet taken by a worker.
    std::size_t waiting() const {
        std::lock_guard lock(mutex_);
        return waiting_.size();
    }

    // Sizes of the batches run so far, for metrics: batches and the inputs they held.
    std::pair<std::size_t, std::size_t> totals() const {
        std::lock_guard lock(mutex_);
        return {batches_, inputs_};
    }

private:
    struct Waiting {
        In input;
        std::function<void(Outcome<Out>)> done;
        std::string client;
    };

    void drain() {
        std::vector<Waiting> batch;
        {
            std::lock_guard lock(mutex_);
            // By rounds: each round takes the oldest waiting input of every client in turn.
            std::vector<bool> taken(waiting_.size(), false);
            while (batch.size() < max_batch_ && batch.size() < waiting_.size()) {
                std::vector<std::string> this_round;  // copies: the inputs taken are moved from
                for (std::size_t i = 0; i < waiting_.size() && batch.size() < max_batch_; ++i) {
                    if (taken[i] ||
                        std::find(this_round.begin(), this_round.end(), waiting_[i].client) != this_round.end())
                        continue;
                    this_round.push_back(waiting_[i].client);
                    taken[i] = true;
                    batch.push_back(std::move(waiting_[i]));
                }
            }
            std::vector<Waiting> rest;
            for (std::size_t i = 0; i < waiting_.size(); ++i)
                if (!taken[i]) rest.push_back(std::move(waiting_[i]));
            waiting_ = std::move(rest);
            if (!batch.empty()) ++batches_, inputs_ += batch.size();
        }
        if (!batch.empty()) complete(batch);
        std::lock_guard lock(mutex_);
        if (--drains_ == 0) idle_.notify_all();
    }

    void complete(std::vector<Waiting>& batch) {
        std::vector<In> inputs;
        inputs.reserve(batch.size());
        for (Waiting& w : batch) inputs.push_back(std::move(w.input));
        std::vector<Outcome<Out>> outcomes;
        try {
            outcomes = run_batch_(inputs);
            if (outcomes.size() != batch.size())
                throw std::logic_error("Batcher: run_batch returned the wrong number of outcomes");
        } catch (...) {
            for (Waiting& w : batch) w.done(std::current_exception());
            return;
        }
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(outcomes[i]));
    }

    WorkerPool& pool_;
    const std::size_t max_batch_;
    RunBatch run_batch_;
    mutable std::mutex mutex_;
    std::condition_variable idle_;
    std::vector<Waiting> waiting_;
    std::size_t drains_ = 0, batches_ = 0, inputs_ = 0;
};

}  // namespace opsis
