#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace nt {
namespace {

int default_threads() {
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
}

// Workers sleep on a condition variable. A job is a range split into `chunks` pieces that
// workers (and the caller) claim with the job's own atomic counter; a worker that wakes
// late holds a shared_ptr to the job it saw, so it can never touch the next job's state.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0, chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> pending{0};
  std::mutex error_mutex;
  std::exception_ptr error;
};

class ThreadPool {
 public:
  ~ThreadPool() { resize(0); }

  int size() const { return size_.load(); }

  void resize(int workers) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    job_.reset();
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
    size_ = workers + 1;  // the caller participates
  }

  // Returns false (did nothing) when another job holds the pool.
  bool try_run(int64_t n, int64_t chunks, const std::function<void(int64_t, int64_t)>& fn) {
    std::unique_lock<std::mutex> run_lock(run_mutex_, std::try_to_lock);
    if (!run_lock.owns_lock()) return false;
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->n = n;
    job->chunks = chunks;
    job->pending = chunks;
    {
      std::lock_guard<std::mutex> lk(mutex_);
      job_ = job;
      ++generation_;
    }
    cv_.notify_all();
    work(*job);
    {
      std::unique_lock<std::mutex> lk(mutex_);
      done_cv_.wait(lk, [&] { return job->pending.load() == 0; });
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
    return true;
  }

 private:
  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lk(mutex_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      if (job) work(*job);
    }
  }

  void work(Job& job) {
    for (;;) {
      const int64_t c = job.next.fetch_add(1);
      if (c >= job.chunks) return;
      const int64_t begin = job.n * c / job.chunks, end = job.n * (c + 1) / job.chunks;
      try {
        (*job.fn)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lk(job.error_mutex);
        if (!job.error) job.error = std::current_exception();
      }
      if (job.pending.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mutex_);
        done_cv_.notify_all();
      }
    }
  }

  std::mutex run_mutex_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> threads_;
  std::atomic<int> size_{1};
  bool stop_ = false;
  uint64_t generation_ = 0;
  std::shared_ptr<Job> job_;
};

ThreadPool& pool() {
  static ThreadPool* p = [] {
    auto* tp = new ThreadPool();  // leaked on purpose: no join during static destruction
    tp->resize(default_threads() - 1);
    return tp;
  }();
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (n <= 0) n = default_threads();
  n = std::min(n, 256);
  if (n != pool().size()) pool().resize(n - 1);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = num_threads();
  const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (chunks <= 1 || !pool().try_run(n, chunks, fn)) fn(0, n);
}

}  // namespace nt
