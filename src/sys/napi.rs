//! Views of JS typed arrays passed to a napi call, and runs queued on the libuv threadpool
//! (napi async work) that never outlive the call that queued them.

use napi::bindgen_prelude::Float64ArraySlice;

/// The numbers of a Float64Array argument, writable. A `Float64ArraySlice` exists only for
/// the length of the synchronous napi call that received it, on the JS thread, during which
/// no JS code runs and so nothing else can touch the array.
pub fn f64_slice_mut<'a>(a: &'a mut Float64ArraySlice<'_>) -> &'a mut [f64] {
    // SAFETY: see above: the call is synchronous on the JS thread, so the array is not touched
    // by anything else while the returned slice (borrowing `a`) is alive.
    unsafe { a.as_mut() }
}

/// One queued run: what it calls on the pool thread, and its napi handle for the completion.
struct PoolRun {
    run: fn(u64),
    arg: u64,
    work: napi::sys::napi_async_work,
}

unsafe extern "C" fn pool_run_execute(_env: napi::sys::napi_env, data: *mut std::ffi::c_void) {
    // SAFETY: data is the PoolRun leaked by pool_runs, freed only by pool_run_complete, which
    // napi calls after this execute has returned (or instead of it, when cancelled).
    let Some(r) = (unsafe { (data as *const PoolRun).as_ref() }) else {
        return;
    };
    // a panic must not unwind into libuv's worker loop
    let _ = std::panic::catch_unwind(|| (r.run)(r.arg));
}

unsafe extern "C" fn pool_run_complete(
    env: napi::sys::napi_env,
    _status: napi::sys::napi_status,
    data: *mut std::ffi::c_void,
) {
    if data.is_null() {
        return;
    }
    // SAFETY: data is the PoolRun leaked by pool_runs; napi calls this once per work, last.
    let r = unsafe { Box::from_raw(data as *mut PoolRun) };
    // SAFETY: the work was created by pool_runs on this env and is deleted exactly once, here.
    unsafe { napi::sys::napi_delete_async_work(env, r.work) };
}

/// Queues `count` runs of `run(arg)` on the libuv threadpool of `env`'s loop (napi async work:
/// `run` is called on a pool thread; the JS thread only frees the work later), calls
/// `wait(queued)`, then withdraws every run no pool thread has started, all before returning.
/// So no run is ever left queued behind the pool's other work: a worker_threads environment
/// being torn down waits for its queued async work, and one left behind a saturated pool would
/// hold worker.terminate() up until the pool freed. Returns how many runs were queued.
pub fn pool_runs(
    env: &napi::Env,
    count: usize,
    run: fn(u64),
    arg: u64,
    wait: impl FnOnce(usize),
) -> usize {
    use napi::sys;
    let raw = env.raw();
    let name = c"kernelscope:poolProbe";
    let mut name_value: sys::napi_value = std::ptr::null_mut();
    // SAFETY: raw is the env of the current napi call (on its JS thread); name is NUL-terminated
    // (length -1: up to the NUL) and name_value a valid out pointer.
    if unsafe { sys::napi_create_string_utf8(raw, name.as_ptr(), -1, &mut name_value) }
        != sys::Status::napi_ok
    {
        return 0;
    }
    let mut queued: Vec<sys::napi_async_work> = Vec::with_capacity(count);
    for _ in 0..count {
        let data = Box::into_raw(Box::new(PoolRun {
            run,
            arg,
            work: std::ptr::null_mut(),
        }));
        let mut work: sys::napi_async_work = std::ptr::null_mut();
        // SAFETY: raw is live on this thread; the callbacks match napi's signatures and data
        // stays valid until pool_run_complete frees it.
        let created = unsafe {
            sys::napi_create_async_work(
                raw,
                std::ptr::null_mut(),
                name_value,
                Some(pool_run_execute),
                Some(pool_run_complete),
                data.cast(),
                &mut work,
            )
        } == sys::Status::napi_ok;
        if !created {
            // SAFETY: no work owns data: it is reclaimed here, once.
            drop(unsafe { Box::from_raw(data) });
            break;
        }
        // SAFETY: data is ours until the work is queued; the pool thread never reads `work`.
        unsafe { (*data).work = work };
        // SAFETY: work was just created on raw, on this thread.
        if unsafe { sys::napi_queue_async_work(raw, work) } != sys::Status::napi_ok {
            // SAFETY: a work never queued never completes: delete it and its data here, once.
            unsafe { sys::napi_delete_async_work(raw, work) };
            // SAFETY: as above, data is reclaimed once.
            drop(unsafe { Box::from_raw(data) });
            break;
        }
        queued.push(work);
    }
    wait(queued.len());
    for &work in &queued {
        // SAFETY: completions run on this JS thread's loop, which cannot turn before this call
        // returns, so every queued work is still alive; a run already started refuses the
        // cancel (and completes normally), a cancelled one completes with napi_cancelled.
        unsafe { sys::napi_cancel_async_work(raw, work) };
    }
    queued.len()
}
