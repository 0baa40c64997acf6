#pragma once
// A fixed set of worker threads that run tasks from one queue; run() blocks the caller until
// its task is done and rethrows what it threw. The queue is fair between clients: tasks
// posted under different keys (the server uses the client's address) take turns, so one
// client's hundred tasks delay another's next one by at most one task per worker, not by
// the hundred. The server hands every model call of a request
// to it: each worker is set up once (the server makes each one single-threaded for OpenMP and
// BLAS), so N requests run on N cores side by side instead of N OpenMP teams fighting for the
// same cores, where spinning team threads stall one another.
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace opsis {

class WorkerPool {
public:
    WorkerPool(int workers, const std::function<void()>& on_start) {
        for (int i = 0; i < std::max(1, workers); ++i)
            threads_.emplace_back([this, on_start] {
                if (on_start) on_start();
                loop();
            });
    }
    ~WorkerPool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        ready_.notify_all();
        for (std::thread& t : threads_) t.join();
    }
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    template <typename Fn>
    auto run(Fn&& fn) -> decltype(fn()) {
        std::packaged_task<decltype(fn())()> task(std::forward<Fn>(fn));
        auto result = task.get_future();
        post([&task] { task(); });
        return result.get();
    }

    // Queues a task without waiting for it; it must not throw. Tasks of one key run in the
    // order posted; keys take turns.
    void post(std::function<void()> task, const std::string& key = {}) {
        {
            std::lock_guard lock(mutex_);
            std::deque<std::function<void()>>& queue = queues_[key];
            if (queue.empty()) turns_.push_back(key);
            queue.push_back(std::move(task));
        }
        ready_.notify_one();
    }

private:
    void loop() {
        while (true) {
            std::function<void()> next;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [&] { return stopping_ || !turns_.empty(); });
                if (turns_.empty()) return;
                const std::string key = std::move(turns_.front());
                turns_.pop_front();
                const auto queue = queues_.find(key);
                next = std::move(queue->second.front());
                queue->second.pop_front();
                if (queue->second.empty())
                    queues_.erase(queue);
                else
                    turns_.push_back(key);  // its next task waits for the others' turns
            }
            next();
        }
    }
    std::mutex mutex_;
    std::condition_variable ready_;
    std::map<std::string, std::deque<std::function<void()>>> queues_;  // by key; none empty
    std::deque<std::string> turns_;                                    // keys with tasks, next first
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace opsis
