//! libuv, reached through the `uv_*` symbols the node binary exports (dlsym at run time: no libuv
//! headers, one addon for every Node version): the unsafe room of the event-loop monitor. It
//! owns a prepare + check handle pair per loop, reads the loop's own metrics, and closes the
//! handles from a Node-API async cleanup hook when the environment is torn down.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::ffi::{c_void, CStr};
use std::mem::MaybeUninit;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::sys as napi_sys;
use once_cell::sync::OnceCell;

/// glibc and musl both define RTLD_DEFAULT as the null handle.
const RTLD_DEFAULT: *mut c_void = ptr::null_mut();
/// uv_handle_type values (stable since libuv 1.0; checked against uv_handle_type_name below).
const UV_CHECK: c_int = 2;
const UV_PREPARE: c_int = 9;
/// uv_metrics_t is 3 u64 + 13 reserved pointers (128 bytes); twice that, to be safe.
const METRICS_WORDS: usize = 32;

type HandleCb = unsafe extern "C" fn(*mut c_void);
type SizeFn = unsafe extern "C" fn(c_int) -> usize;
type NameFn = unsafe extern "C" fn(c_int) -> *const c_char;
type InitFn = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;
type StartFn = unsafe extern "C" fn(*mut c_void, HandleCb) -> c_int;
type StopFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type UnrefFn = unsafe extern "C" fn(*mut c_void);
type CloseFn = unsafe extern "C" fn(*mut c_void, Option<HandleCb>);
type SetDataFn = unsafe extern "C" fn(*mut c_void, *mut c_void);
type GetDataFn = unsafe extern "C" fn(*const c_void) -> *mut c_void;
type TimeoutFn = unsafe extern "C" fn(*const c_void) -> c_int;
type IdleFn = unsafe extern "C" fn(*mut c_void) -> u64;
type MetricsFn = unsafe extern "C" fn(*mut c_void, *mut u64) -> c_int;

struct Api {
    handle_size: SizeFn,
    handle_type_name: NameFn,
    prepare_init: InitFn,
    prepare_start: StartFn,
    prepare_stop: StopFn,
    check_init: InitFn,
    check_start: StartFn,
    check_stop: StopFn,
    unref: UnrefFn,
    close: CloseFn,
    handle_set_data: SetDataFn,
    handle_get_data: GetDataFn,
    backend_timeout: TimeoutFn,
    metrics_idle_time: IdleFn,
    /// libuv >= 1.45 only.
    metrics_info: Option<MetricsFn>,
}

static API: OnceCell<Result<Api, String>> = OnceCell::new();

fn lookup(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: name is NUL-terminated; dlsym only reads it and searches the loaded objects.
    let p = unsafe { libc::dlsym(RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

macro_rules! required {
    ($name:literal, $ty:ty) => {{
        let p = lookup($name).ok_or_else(|| {
            format!(
                "libuv symbol {} is not exported by this process",
                $name.to_string_lossy()
            )
        })?;
        // SAFETY: the exported libuv symbol has exactly this C signature (libuv's stable 1.x
        // API), and a pointer to code converts to a fn pointer on every platform we build for.
        unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
    }};
}

fn load() -> Result<Api, String> {
    let metrics_info = lookup(c"uv_metrics_info").map(|p| {
        // SAFETY: uv_metrics_info(uv_loop_t*, uv_metrics_t*) -> int, exported since libuv 1.45.
        unsafe { std::mem::transmute::<*mut c_void, MetricsFn>(p) }
    });
    let api = Api {
        handle_size: required!(c"uv_handle_size", SizeFn),
        handle_type_name: required!(c"uv_handle_type_name", NameFn),
        prepare_init: required!(c"uv_prepare_init", InitFn),
        prepare_start: required!(c"uv_prepare_start", StartFn),
        prepare_stop: required!(c"uv_prepare_stop", StopFn),
        check_init: required!(c"uv_check_init", InitFn),
        check_start: required!(c"uv_check_start", StartFn),
        check_stop: required!(c"uv_check_stop", StopFn),
        unref: required!(c"uv_unref", UnrefFn),
        close: required!(c"uv_close", CloseFn),
        handle_set_data: required!(c"uv_handle_set_data", SetDataFn),
        handle_get_data: required!(c"uv_handle_get_data", GetDataFn),
        backend_timeout: required!(c"uv_backend_timeout", TimeoutFn),
        metrics_idle_time: required!(c"uv_metrics_idle_time", IdleFn),
        metrics_info,
    };
    for (ty, want) in [(UV_PREPARE, "prepare"), (UV_CHECK, "check")] {
        // SAFETY: uv_handle_type_name takes any enum value and returns a static string or NULL.
        let name = unsafe { (api.handle_type_name)(ty) };
        let got = if name.is_null() {
            None
        } else {
            // SAFETY: a non-NULL result points to a static NUL-terminated string inside libuv.
            Some(unsafe { CStr::from_ptr(name) })
        };
        if got.map(|c| c.to_bytes()) != Some(want.as_bytes()) {
            return Err(format!("libuv handle type {ty} is not '{want}' here"));
        }
    }
    Ok(api)
}

fn api() -> Result<&'static Api, String> {
    API.get_or_init(load).as_ref().map_err(|e| e.clone())
}

use super::monotonic_ns;

/// What the loop says at one hook: the time (CLOCK_MONOTONIC ns), the loop's accumulated idle
/// time (uv_metrics_idle_time, ns spent blocked in epoll_wait) and its event counter
/// (uv_metrics_info().events, None without it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    pub now_ns: u64,
    pub idle_ns: u64,
    pub events: Option<u64>,
}

/// The safe side: what runs in the hooks. Called on the loop's thread, never re-entered, with
/// panics caught before they reach libuv.
pub trait Observer: 'static {
    /// Prepare phase: the loop is about to compute its timeout and poll. `timeout_ms` is
    /// uv_backend_timeout(): -1 none, 0 also while fd changes are pending.
    fn on_prepare(&self, tick: Tick, timeout_ms: i32);
    /// Check phase: the poll is over, its I/O callbacks have run.
    fn on_check(&self, tick: Tick);
    /// The environment is being torn down; the handles are closing.
    fn on_teardown(&self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Initialised, not started.
    Stopped,
    Running,
    /// uv_close called (environment teardown); the memory goes in the close callbacks.
    Closing,
}

struct Inner<O: Observer> {
    api: &'static Api,
    uv_loop: *mut c_void,
    prepare: *mut c_void,
    check: *mut c_void,
    prepare_layout: Layout,
    check_layout: Layout,
    state: Cell<State>,
    open_handles: Cell<u8>,
    cleanup_hook: Cell<napi_sys::napi_async_cleanup_hook_handle>,
    /// Idle time and event count read at the last check. Both only move inside the poll phase
    /// (uv__io_poll), so the next prepare reuses them instead of asking libuv again.
    carried: Cell<Option<(u64, Option<u64>)>>,
    observer: O,
}

/// A prepare + check pair on one loop. Cloning shares it. The handles are unref'd (they never
/// keep the process alive), live as long as the environment, and are closed by its async cleanup
/// hook; the memory they need stays alive until libuv's close callbacks have run.
pub struct PrepareCheck<O: Observer>(Rc<Inner<O>>);

impl<O: Observer> Clone for PrepareCheck<O> {
    fn clone(&self) -> Self {
        PrepareCheck(self.0.clone())
    }
}

fn handle_layout(size: usize) -> Result<Layout, String> {
    if size == 0 || size > 4096 {
        return Err(format!("implausible libuv handle size {size}"));
    }
    Layout::from_size_align(size, 16).map_err(|e| e.to_string())
}

fn alloc_handle(layout: Layout) -> Result<*mut c_void, String> {
    // SAFETY: layout has a non-zero size (checked in handle_layout).
    let p = unsafe { alloc_zeroed(layout) };
    if p.is_null() {
        Err("out of memory for a libuv handle".into())
    } else {
        Ok(p.cast())
    }
}

fn free_handle(p: *mut c_void, layout: Layout) {
    // SAFETY: p was allocated by alloc_handle with this layout and is freed exactly once: before
    // libuv ever saw it, or in its close callback after libuv is done with it.
    unsafe { dealloc(p.cast(), layout) };
}

impl<O: Observer> PrepareCheck<O> {
    /// The pair on the loop of `env` (which must be the environment of the current call, as a
    /// napi `&Env` argument is), stopped. Gives the loop's address too.
    pub fn on_env(env: &napi::Env, observer: O) -> Result<(usize, PrepareCheck<O>), String> {
        let uv_loop = env.get_uv_event_loop().map_err(|e| e.reason.clone())?;
        // SAFETY: env is the live environment of the current napi call, on its own thread, and
        // uv_loop is the loop napi gives for it.
        let pc = unsafe { PrepareCheck::new(env.raw(), uv_loop.cast(), observer) }?;
        Ok((uv_loop as usize, pc))
    }

    /// Creates the pair on `uv_loop`, the loop of the environment `env` (napi_get_uv_event_loop),
    /// stopped. Must be called on that environment's thread.
    ///
    /// # Safety
    /// `env` is the live napi_env of the calling thread and `uv_loop` its event loop.
    pub unsafe fn new(
        env: napi_sys::napi_env,
        uv_loop: *mut c_void,
        observer: O,
    ) -> Result<PrepareCheck<O>, String> {
        let api = api()?;
        if uv_loop.is_null() {
            return Err("no libuv loop for this environment".into());
        }
        // SAFETY: uv_handle_size takes any uv_handle_type value.
        let prepare_layout = handle_layout(unsafe { (api.handle_size)(UV_PREPARE) })?;
        // SAFETY: as above.
        let check_layout = handle_layout(unsafe { (api.handle_size)(UV_CHECK) })?;
        let prepare = alloc_handle(prepare_layout)?;
        let check = match alloc_handle(check_layout) {
            Ok(p) => p,
            Err(e) => {
                free_handle(prepare, prepare_layout);
                return Err(e);
            }
        };
        let inner = Rc::new(Inner {
            api,
            uv_loop,
            prepare,
            check,
            prepare_layout,
            check_layout,
            state: Cell::new(State::Stopped),
            open_handles: Cell::new(0),
            cleanup_hook: Cell::new(ptr::null_mut()),
            carried: Cell::new(None),
            observer,
        });
        // The handles' own strong reference, given back in the last close callback.
        let raw = Rc::into_raw(inner.clone()) as *mut c_void;
        let mut hook: napi_sys::napi_async_cleanup_hook_handle = ptr::null_mut();
        // SAFETY: env is live (caller's contract); raw stays valid until the hook has run and the
        // handles have closed, or until it is released just below on failure.
        let status = unsafe {
            napi_sys::napi_add_async_cleanup_hook(env, Some(teardown::<O>), raw, &mut hook)
        };
        if status != napi_sys::Status::napi_ok {
            // SAFETY: raw came from Rc::into_raw above and the hook that would own it does not exist.
            drop(unsafe { Rc::from_raw(raw as *const Inner<O>) });
            free_handle(prepare, prepare_layout);
            free_handle(check, check_layout);
            return Err(format!(
                "napi_add_async_cleanup_hook failed with status {status}"
            ));
        }
        inner.cleanup_hook.set(hook);
        // uv_prepare_init and uv_check_init cannot fail in libuv (they return 0 unconditionally).
        // SAFETY: prepare is zeroed memory of uv_handle_size(UV_PREPARE) bytes, owned by us, and
        // uv_loop is the live loop of this thread.
        unsafe { (api.prepare_init)(uv_loop, prepare) };
        // SAFETY: as above for the check handle.
        unsafe { (api.check_init)(uv_loop, check) };
        inner.open_handles.set(2);
        for h in [prepare, check] {
            // SAFETY: h is an initialised handle; raw outlives it (released in its close callback).
            unsafe { (api.handle_set_data)(h, raw) };
            // SAFETY: h is an initialised handle: from now on it does not keep the loop alive.
            unsafe { (api.unref)(h) };
        }
        Ok(PrepareCheck(inner))
    }

    pub fn observer(&self) -> &O {
        &self.0.observer
    }

    /// False once the environment's teardown has closed the handles.
    pub fn is_open(&self) -> bool {
        self.0.state.get() != State::Closing
    }

    pub fn start(&self) {
        let i = &*self.0;
        if i.state.get() != State::Stopped {
            return;
        }
        // SAFETY: prepare is an initialised, open handle on this thread's loop; prepare_cb::<O>
        // matches the Inner<O> its data points to.
        unsafe { (i.api.prepare_start)(i.prepare, prepare_cb::<O>) };
        // SAFETY: as above for the check handle.
        unsafe { (i.api.check_start)(i.check, check_cb::<O>) };
        i.state.set(State::Running);
    }

    pub fn stop(&self) {
        let i = &*self.0;
        if i.state.get() != State::Running {
            return;
        }
        // SAFETY: prepare is an initialised, open handle on this thread's loop.
        unsafe { (i.api.prepare_stop)(i.prepare) };
        // SAFETY: as above for the check handle.
        unsafe { (i.api.check_stop)(i.check) };
        i.state.set(State::Stopped);
        i.carried.set(None);
    }
}

impl<O: Observer> Inner<O> {
    fn metrics(&self) -> (u64, Option<u64>) {
        // SAFETY: uv_loop is this thread's live loop (the hooks only run inside it).
        let idle_ns = unsafe { (self.api.metrics_idle_time)(self.uv_loop) };
        let events = self.api.metrics_info.and_then(|info| {
            let mut m = [MaybeUninit::<u64>::uninit(); METRICS_WORDS];
            // SAFETY: m is writable and larger than uv_metrics_t; uv_loop is the live loop.
            let rc = unsafe { info(self.uv_loop, m.as_mut_ptr().cast()) };
            // uv_metrics_t: loop_count, events, events_waiting, reserved...
            // SAFETY: on success libuv copied the whole uv_metrics_t, so word 1 is initialised.
            (rc == 0).then(|| unsafe { m[1].assume_init() })
        });
        (idle_ns, events)
    }

    fn tick_prepare(&self) -> Tick {
        let now_ns = monotonic_ns();
        let (idle_ns, events) = match self.carried.take() {
            Some(v) => v,
            None => self.metrics(),
        };
        Tick {
            now_ns,
            idle_ns,
            events,
        }
    }

    fn tick_check(&self) -> Tick {
        let now_ns = monotonic_ns();
        let (idle_ns, events) = self.metrics();
        self.carried.set(Some((idle_ns, events)));
        Tick {
            now_ns,
            idle_ns,
            events,
        }
    }

    fn backend_timeout(&self) -> i32 {
        // SAFETY: uv_loop is this thread's live loop; uv_backend_timeout only reads it.
        unsafe { (self.api.backend_timeout)(self.uv_loop) }
    }

    fn close_handles(&self) {
        if self.state.get() == State::Closing {
            return;
        }
        self.state.set(State::Closing);
        for h in [self.prepare, self.check] {
            // SAFETY: h is an initialised handle not yet closed (state was not Closing); uv_close
            // stops it and calls close_cb::<O> once libuv no longer uses it.
            unsafe { (self.api.close)(h, Some(close_cb::<O>)) };
        }
    }
}

/// The Inner<O> a handle's data points to.
///
/// # Safety
/// `handle` is one of the handles created by PrepareCheck::<O>::new and not yet closed.
unsafe fn inner_of<'a, O: Observer>(handle: *mut c_void) -> Option<&'a Inner<O>> {
    let api = api().ok()?;
    // SAFETY: handle is a live uv handle (caller's contract).
    let data = unsafe { (api.handle_get_data)(handle) } as *const Inner<O>;
    // SAFETY: data was set to Rc::into_raw of an Inner<O> whose strong count the handles hold
    // until their last close callback.
    unsafe { data.as_ref() }
}

unsafe extern "C" fn prepare_cb<O: Observer>(handle: *mut c_void) {
    // SAFETY: libuv calls this only for our running prepare handle.
    let Some(inner) = (unsafe { inner_of::<O>(handle) }) else {
        return;
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let tick = inner.tick_prepare();
        let timeout = inner.backend_timeout();
        inner.observer.on_prepare(tick, timeout);
    }));
}

unsafe extern "C" fn check_cb<O: Observer>(handle: *mut c_void) {
    // SAFETY: libuv calls this only for our running check handle.
    let Some(inner) = (unsafe { inner_of::<O>(handle) }) else {
        return;
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let tick = inner.tick_check();
        inner.observer.on_check(tick);
    }));
}

unsafe extern "C" fn close_cb<O: Observer>(handle: *mut c_void) {
    // SAFETY: libuv calls this once per handle we closed; its data is still our Inner.
    let Some(inner) = (unsafe { inner_of::<O>(handle) }) else {
        return;
    };
    let raw: *const Inner<O> = inner;
    if handle == inner.prepare {
        free_handle(handle, inner.prepare_layout);
    } else {
        free_handle(handle, inner.check_layout);
    }
    let left = inner.open_handles.get().saturating_sub(1);
    inner.open_handles.set(left);
    if left > 0 {
        return;
    }
    let hook = inner.cleanup_hook.replace(ptr::null_mut());
    if !hook.is_null() {
        // SAFETY: hook is the handle napi_add_async_cleanup_hook gave us, removed exactly once:
        // this tells Node the asynchronous cleanup is finished.
        unsafe { napi_sys::napi_remove_async_cleanup_hook(hook) };
    }
    // SAFETY: raw is the pointer Rc::into_raw gave the handles; both are closed, so this is its
    // last use and the strong reference is released exactly once.
    drop(unsafe { Rc::from_raw(raw) });
}

unsafe extern "C" fn teardown<O: Observer>(
    hook: napi_sys::napi_async_cleanup_hook_handle,
    arg: *mut c_void,
) {
    // SAFETY: arg is the Rc::into_raw pointer registered with this hook; the handles keep it alive
    // until they are closed, which only starts here.
    let Some(inner) = (unsafe { (arg as *const Inner<O>).as_ref() }) else {
        return;
    };
    inner.cleanup_hook.set(hook);
    let _ = catch_unwind(AssertUnwindSafe(|| inner.observer.on_teardown()));
    inner.close_handles();
}
