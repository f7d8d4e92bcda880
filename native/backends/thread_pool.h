// A fixed pool of worker threads for the fast CPU path. run(n, fn) calls fn(task) for
// every task in [0, n) across the caller and the workers and returns when all are done.
// Workers spin briefly before sleeping, because a decode step issues hundreds of short
// parallel regions.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace quiver {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads in total, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return (int)workers_.size() + 1; }
  void run(int n_tasks, const std::function<void(int)>& fn);

 private:
  void worker_loop();
  void drain();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> next_task_{0};
  std::atomic<int> busy_{0};  // workers still inside the current generation
  int n_tasks_ = 0;
  const std::function<void(int)>* fn_ = nullptr;
  bool stop_ = false;
};

}  // namespace quiver
