#pragma once
// Runs tasks one at a time on one dedicated thread; run() blocks the caller until its task is
// done and rethrows what it threw. The server's I/O threads hand model inference to it, so
// OpenMP keeps a single thread team: each I/O thread calling the model directly would grow its
// own team, and idle teams spin-waiting steal the cores from the busy one.
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace opsis {

class SerialExecutor {
public:
    SerialExecutor() : thread_([this] { loop(); }) {}
    ~SerialExecutor() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        ready_.notify_one();
        thread_.join();
    }
    SerialExecutor(const SerialExecutor&) = delete;
    SerialExecutor& operator=(const SerialExecutor&) = delete;

    template <typename Fn>
    auto run(Fn&& fn) -> decltype(fn()) {
        std::packaged_task<decltype(fn())()> task(std::forward<Fn>(fn));
        auto result = task.get_future();
        {
            std::lock_guard lock(mutex_);
            tasks_.emplace_back([&task] { task(); });
        }
        ready_.notify_one();
        return result.get();
    }

private:
    void loop() {
        while (true) {
            std::function<void()> next;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
                if (tasks_.empty()) return;
                next = std::move(tasks_.front());
                tasks_.pop_front();
            }
            next();
        }
    }
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::function<void()>> tasks_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace opsis
