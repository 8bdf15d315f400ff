//! Views of JS typed arrays passed to a napi call.

use napi::bindgen_prelude::Float64ArraySlice;

/// The numbers of a Float64Array argument, writable. A `Float64ArraySlice` exists only for
/// the length of the synchronous napi call that received it, on the JS thread, during which
/// no JS code runs and so nothing else can touch the array.
pub fn f64_slice_mut<'a>(a: &'a mut Float64ArraySlice<'_>) -> &'a mut [f64] {
    // SAFETY: see above: the call is synchronous on the JS thread, so the array is not touched
    // by anything else while the returned slice (borrowing `a`) is alive.
    unsafe { a.as_mut() }
}
