//! A single-threaded task executor for one shard thread.
//!
//! Tasks are `!Send` futures owned by the shard. Wakers carry only the task id and push it on
//! the current ready queue; nothing wakes a task from another thread (cross-shard replies
//! arrive through the mesh and are completed by the shard's own loop), so the queue needs no
//! lock. The queues are the thread's by default; the in-process simulation (`shard::sim`),
//! which steps several shards on one thread, installs each shard's own with [`install`]
//! before it steps that shard.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// An executor's ready queue (task ids) and its newly spawned tasks.
#[derive(Default)]
pub struct Queues {
    ready: RefCell<VecDeque<usize>>,
    spawned: RefCell<Vec<Task>>,
}

thread_local! {
    static QUEUES: RefCell<Rc<Queues>> = RefCell::new(Rc::new(Queues::default()));
}

fn with_queues<R>(f: impl FnOnce(&Queues) -> R) -> R {
    QUEUES.with(|q| f(&q.borrow()))
}

/// Makes `queues` the current ones (for stepping several executors on one thread); returns
/// the previous ones.
pub fn install(queues: Rc<Queues>) -> Rc<Queues> {
    QUEUES.with(|q| std::mem::replace(&mut *q.borrow_mut(), queues))
}

/// Spawns a task on the current shard's executor.
pub fn spawn(fut: impl Future<Output = ()> + 'static) {
    with_queues(|q| q.spawned.borrow_mut().push(Box::pin(fut)));
}

fn waker_for(id: usize) -> Waker {
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    fn wake(p: *const ()) {
        with_queues(|q| q.ready.borrow_mut().push_back(p as usize));
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: the vtable functions never dereference the pointer; it is only a task id.
    unsafe { Waker::from_raw(RawWaker::new(id as *const (), &VTABLE)) }
}

#[derive(Default)]
pub struct Executor {
    tasks: Vec<Option<Task>>,
    free: Vec<usize>,
}

impl Executor {
    pub fn new() -> Executor {
        Executor::default()
    }

    fn adopt_spawned(&mut self) {
        let spawned = with_queues(|q| std::mem::take(&mut *q.spawned.borrow_mut()));
        for task in spawned {
            let id = match self.free.pop() {
                Some(id) => {
                    self.tasks[id] = Some(task);
                    id
                }
                None => {
                    self.tasks.push(Some(task));
                    self.tasks.len() - 1
                }
            };
            with_queues(|q| q.ready.borrow_mut().push_back(id));
        }
    }

    /// Polls ready tasks, at most `budget` polls, so one turn of the loop stays bounded.
    /// Returns the number of polls done.
    pub fn run_ready(&mut self, budget: usize) -> usize {
        self.adopt_spawned();
        let mut polls = 0;
        // A stale or duplicate wake-up only causes a spurious poll, which futures tolerate.
        while polls < budget {
            let Some(id) = with_queues(|q| q.ready.borrow_mut().pop_front()) else {
                self.adopt_spawned();
                if with_queues(|q| q.ready.borrow().is_empty()) {
                    break;
                }
                continue;
            };
            let Some(slot) = self.tasks.get_mut(id) else { continue };
            let Some(task) = slot.as_mut() else { continue };
            polls += 1;
            let waker = waker_for(id);
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(()) = task.as_mut().poll(&mut cx) {
                self.tasks[id] = None;
                self.free.push(id);
            }
        }
        polls
    }

    pub fn has_ready(&self) -> bool {
        with_queues(|q| !q.ready.borrow().is_empty() || !q.spawned.borrow().is_empty())
    }

    pub fn task_count(&self) -> usize {
        self.tasks.len() - self.free.len()
    }
}

/// Yields once to the executor, letting other tasks run.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
