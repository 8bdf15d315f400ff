//! The napi entry points: fdsSync() on the calling thread, fdsAsync() on the kernelscope-fds
//! thread (not the libuv threadpool: an inventory is most wanted when the pool is saturated,
//! and it must not queue behind the work it diagnoses).

use napi::bindgen_prelude::{Buffer, Float64Array, Int32Array, Object};
use napi::{Env, Result};
use napi_derive::napi;

use crate::error::{arg_error, sys_error};
use crate::sockdiag::Mode;
use crate::spawn::Service;

use super::json::entries_json;
use super::pack::Packed;
use super::{scan, ScanOptions};

#[napi(object)]
pub struct NativeFdsOptions {
    /// null/undefined: this process.
    pub pid: Option<i32>,
    pub sockets: bool,
    pub fdinfo: bool,
    /// Where socket details come from: "auto" (netlink, /proc/net where refused), "procnet"
    /// or "off" (KERNELSCOPE_SOCKDIAG, to see what a sandbox would give).
    pub sockdiag: String,
}

#[napi(object)]
pub struct NativeFds {
    /// col::LEN numbers per descriptor.
    pub nums: Float64Array,
    /// Per record: target, error (bits::ERROR); a string channel (crate::layout::Strings):
    /// the strings one after the other, their lengths in `text_lens`.
    pub text: String,
    pub text_lens: Int32Array,
    /// Per record, the strings of the other bits; a string channel likewise.
    pub extra: String,
    pub extra_lens: Int32Array,
    /// fdsJsonSync() only: the entries as JSON text (src/fds/json.rs).
    pub json: Option<Buffer>,
}

fn scan_options(o: &NativeFdsOptions) -> Result<ScanOptions> {
    if let Some(p) = o.pid {
        if p <= 0 {
            return Err(arg_error(
                "ERR_OUT_OF_RANGE",
                "pid must be a positive integer",
            ));
        }
    }
    let Some(sockdiag) = Mode::from_name(&o.sockdiag) else {
        return Err(arg_error(
            "ERR_INVALID_ARG_VALUE",
            &format!(
                "sockdiag (KERNELSCOPE_SOCKDIAG) must be one of {:?}; it is {:?}",
                Mode::NAMES,
                o.sockdiag
            ),
        ));
    };
    Ok(ScanOptions {
        pid: o.pid,
        sockets: o.sockets,
        fdinfo: o.fdinfo,
        sockdiag,
    })
}

fn compute(opts: ScanOptions) -> Result<Packed> {
    match scan(opts) {
        Ok(packed) => Ok(packed),
        Err(e) => Err(sys_error(e.syscall, e.errno, &e.path)),
    }
}

fn to_js(p: Packed) -> NativeFds {
    with_json(p, None)
}

fn with_json(p: Packed, json: Option<Vec<u8>>) -> NativeFds {
    NativeFds {
        nums: Float64Array::new(p.nums),
        text: p.text.text,
        text_lens: Int32Array::new(p.text.lens),
        extra: p.extra.text,
        extra_lens: Int32Array::new(p.extra.lens),
        json: json.map(Buffer::from),
    }
}

#[napi(js_name = "fdsSync", catch_unwind)]
pub fn fds_sync(options: NativeFdsOptions) -> Result<NativeFds> {
    compute(scan_options(&options)?).map(to_js)
}

/// fdsSync() with the entries also written as JSON text, from the same table (for `kernelscope
/// inspect --json`; without fdinfo).
#[napi(js_name = "fdsJsonSync", catch_unwind)]
pub fn fds_json_sync(options: NativeFdsOptions) -> Result<NativeFds> {
    let opts = scan_options(&options)?;
    if opts.fdinfo {
        return Err(arg_error(
            "ERR_INVALID_ARG_VALUE",
            "fdsJsonSync writes no fdinfo details",
        ));
    }
    let packed = compute(opts)?;
    let json = entries_json(&packed).map_err(|why| {
        arg_error(
            "ERR_KERNELSCOPE_INTERNAL",
            &format!("the inventory could not be written as JSON ({why}): a bug"),
        )
    })?;
    Ok(with_json(packed, Some(json)))
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The one thread that runs Promise-form inventories ("kernelscope-fds"), started on first use.
static WORKER: Service<Job> = Service::new("kernelscope-fds", run_job);

fn run_job(job: Job) {
    job()
}

/// The Promise form: the scan runs on the kernelscope-fds thread and the promise settles on
/// the calling JS thread.
#[napi(js_name = "fdsAsync", catch_unwind)]
pub fn fds_async(env: &Env, options: NativeFdsOptions) -> Result<Object<'_>> {
    let opts = scan_options(&options)?;
    let (deferred, promise) = env.create_deferred()?;
    let job: Job = Box::new(move || {
        // settle the promise whatever happens: an unsettled deferred would keep the loop alive
        let result = std::panic::catch_unwind(|| compute(opts)).unwrap_or_else(|_| {
            Err(arg_error(
                "ERR_KERNELSCOPE_INTERNAL",
                "fds() failed inside kernelscope (a bug: please report it)",
            ))
        });
        match result {
            Ok(packed) => deferred.resolve(move |_env| Ok(to_js(packed))),
            Err(e) => deferred.reject(e),
        }
    });
    if let Err(job) = WORKER.submit(job) {
        // no thread could be started: run here rather than fail (the promise still settles
        // asynchronously, through the deferred's threadsafe function)
        job();
    }
    Ok(promise)
}
