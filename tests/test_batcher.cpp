// The Batcher: requests queued while the workers are busy run as one batch, each gets its own
// answer or its own error, and a lone request runs at once.
#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "core/batcher.h"

using namespace opsis;

TEST_CASE("queued requests run together and fail one by one", "[batcher]") {
    WorkerPool pool(1, nullptr);
    std::vector<std::size_t> sizes;
    std::mutex sizes_mutex;
    Batcher<int, int> squares(pool, 4, [&](const std::vector<int>& in) {
        {
            std::lock_guard lock(sizes_mutex);
            sizes.push_back(in.size());
        }
        std::vector<Outcome<int>> out;
        for (int x : in) {
            if (x < 0)
                out.emplace_back(std::make_exception_ptr(std::invalid_argument("negative: " + std::to_string(x))));
            else
                out.emplace_back(x * x);
        }
        return out;
    });
    REQUIRE(squares.run(3) == 9);  // alone, at once

    // Hold the only worker so that the next six requests queue up behind it.
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    pool.post([released] { released.wait(); });
    std::vector<std::thread> clients;
    std::vector<int> answers(6, 0);
    std::vector<std::string> errors(6);
    for (int i = 0; i < 6; ++i)
        clients.emplace_back([&, i] {
            try {
                answers[static_cast<std::size_t>(i)] = squares.run(i == 2 ? -2 : i + 1);
            } catch (const std::invalid_argument& e) {
                errors[static_cast<std::size_t>(i)] = e.what();
            }
        });
    while (squares.waiting() < 6) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    release.set_value();
    for (std::thread& t : clients) t.join();

    for (int i = 0; i < 6; ++i) {
        if (i == 2) {
            REQUIRE(errors[2] == "negative: -2");
        } else {
            REQUIRE(errors[static_cast<std::size_t>(i)].empty());
            REQUIRE(answers[static_cast<std::size_t>(i)] == (i + 1) * (i + 1));
        }
    }
    // One alone, then the six that waited in batches of at most four.
    REQUIRE(sizes == std::vector<std::size_t>{1, 4, 2});
    REQUIRE(squares.totals() == std::pair<std::size_t, std::size_t>{3, 7});
}

TEST_CASE("a batch that throws fails every request in it, and the batcher goes on", "[batcher]") {
    WorkerPool pool(2, nullptr);
    std::atomic<bool> broken{true};
    Batcher<int, int> b(pool, 8, [&](const std::vector<int>& in) {
        if (broken) throw std::runtime_error("model failed");
        return std::vector<Outcome<int>>(in.begin(), in.end());
    });
    REQUIRE_THROWS_WITH(b.run(1), "model failed");
    broken = false;
    REQUIRE(b.run(5) == 5);
}

TEST_CASE("clients take turns: in the worker queue and in every batch", "[batcher]") {
    WorkerPool pool(1, nullptr);
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    pool.post([released] { released.wait(); });  // hold the only worker while the queue fills
    std::mutex order_mutex;
    std::vector<std::string> order;
    for (int i = 0; i < 4; ++i)
        pool.post(
            [&, i] {
                std::lock_guard lock(order_mutex);
                order.push_back("a" + std::to_string(i));
            },
            "10.0.0.1");
    pool.post(
        [&] {
            std::lock_guard lock(order_mutex);
            order.push_back("b0");
        },
        "10.0.0.2");
    std::vector<std::vector<int>> batches;
    Batcher<int, int> echo(pool, 4, [&](const std::vector<int>& in) {
        batches.push_back(in);
        return std::vector<Outcome<int>>(in.begin(), in.end());
    });
    std::atomic<int> done{0};
    for (int i = 0; i < 8; ++i)
        echo.submit(
            100 + i, [&](Outcome<int>) { ++done; }, "10.0.0.1");
    echo.submit(
        200, [&](Outcome<int>) { ++done; }, "10.0.0.2");
    release.set_value();
    while (done < 9) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // The second client's task ran second, not after the first client's four.
    REQUIRE(order == std::vector<std::string>{"a0", "b0", "a1", "a2", "a3"});
    // Its search rode in the first batch, beside the first client's oldest.
    REQUIRE(batches.size() >= 3);
    REQUIRE(batches[0] == std::vector<int>{100, 200, 101, 102});
    REQUIRE(batches[1] == std::vector<int>{103, 104, 105, 106});
}
