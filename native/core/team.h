// A team of the pool's threads that stays awake across many small parallel steps.
// The tridiagonalization runs ~2n steps (a symmetric matrix-vector product per column, a
// trailing update per panel) of tens of microseconds each; waking the pool's sleeping workers
// for every step costs about as much as the step. Team::lead keeps one pool job alive for the
// whole reduction: the leader runs the algorithm and publishes steps, the other threads spin
// on a counter and claim the step's tasks. Nobody ever waits for a particular thread: the
// leader claims tasks too and only waits for claimed tasks to finish, so the team works with
// any number of helpers (none when the pool is busy or set to one thread).
// Which thread runs a task never changes its arithmetic, so results do not depend on the
// thread count.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "thread_pool.h"

namespace nt {

class Team {
 public:
  using Task = std::function<void(int64_t)>;
  static constexpr int64_t kMaxTasks = 256;

  // Runs leader(team) on one thread; team.run() steps inside it are shared with the pool.
  static void lead(const std::function<void(Team&)>& leader) {
    Team team;
    const int threads = num_threads();
    if (threads <= 1) {
      leader(team);
      return;
    }
    team.members_ = threads;
    parallel_for(threads, 1, [&](int64_t begin, int64_t) {
      if (begin == 0) {
        struct Finish {
          Team& t;
          ~Finish() { t.finished_.store(true, std::memory_order_release); }
        } finish{team};
        leader(team);
      } else {
        team.help(1 + team.joined_.fetch_add(1, std::memory_order_relaxed));
      }
    });
  }

  // Runs task(i) for i in [0, ntasks) (ntasks <= kMaxTasks) on the team; returns when every task
  // is done. Leader only. Member j first takes the tasks of its own slice of [0, ntasks) (the same
  // slice every step, so a task's data stays in that core's cache), then any task left unclaimed.
  void run(int64_t ntasks, const Task& task) {
    if (ntasks <= 0) return;
    if (ntasks > kMaxTasks) {  // never needed by the callers; keep the contract total anyway
      for (int64_t i = 0; i < ntasks; i += kMaxTasks)
        run(std::min(kMaxTasks, ntasks - i), [&](int64_t j) { task(i + j); });
      return;
    }
    const uint64_t g = ++gen_;
    Slot& s = slots_[g & 1];
    s.ntasks.store(ntasks, std::memory_order_relaxed);
    s.task.store(&task, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    gen_published_.store(g, std::memory_order_release);
    work(g, 0);
    for (int spins = 0; done_.load(std::memory_order_acquire) != ntasks;) pause(spins);
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  struct Slot {
    std::atomic<int64_t> ntasks{0};
    std::atomic<const Task*> task{nullptr};
  };

  static void pause(int& spins) {
    if (++spins < 4000) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();  // a descheduled partner: give the core back
    }
  }

  // Claims and runs tasks of generation g. claimed_[i] holds the generation that last claimed
  // task i; a claim is a CAS from an older generation to g, so every task runs once per step.
  // The slot is read and then validated against the published generation: a member that
  // arrives after the step moved on never claims (every task of its step is claimed already,
  // and it never looks past its step's task count).
  void work(uint64_t g, int member) {
    const Slot& s = slots_[g & 1];
    // acquire loads: the validation below cannot be reordered before them
    const int64_t ntasks = s.ntasks.load(std::memory_order_acquire);
    const Task* task = s.task.load(std::memory_order_acquire);
    if (gen_published_.load(std::memory_order_acquire) != g) return;
    const int64_t home = ntasks * std::min(member, members_ - 1) / members_;
    for (int64_t t = 0; t < ntasks; ++t) {
      const int64_t i = (home + t) % ntasks;
      uint64_t cur = claimed_[i].load(std::memory_order_relaxed);
      if (cur >= g || !claimed_[i].compare_exchange_strong(cur, g, std::memory_order_acq_rel)) continue;
      try {
        (*task)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  void help(int member) {
    uint64_t seen = 0;
    for (int spins = 0; !finished_.load(std::memory_order_acquire);) {
      const uint64_t g = gen_published_.load(std::memory_order_acquire);
      if (g != seen) {
        work(g, member);
        seen = g;
        spins = 0;
      } else {
        pause(spins);
      }
    }
  }

  std::atomic<uint64_t> gen_published_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<bool> finished_{false};
  std::atomic<int> joined_{0};
  int members_ = 1;
  uint64_t gen_ = 0;  // leader only
  Slot slots_[2];
  std::atomic<uint64_t> claimed_[kMaxTasks] = {};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace nt
