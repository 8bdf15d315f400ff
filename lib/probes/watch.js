'use strict'
// Native help for sentinel() (src/sentinel.rs): fanotify marks on watched files, and this
// process's own inet sockets with their peers.

const { native, call } = require('../native')

// -> { read(): [{ path, pid, mask }], marks(): [{ path, errno }], close() }; throws (coded,
// e.g. EPERM/EINVAL/ENOSYS) when fanotify is refused.
function watchOpens (paths) {
  return call(() => native().watchOpens(paths))
}

// known: socket inodes to leave out (already seen)
function ownSockets (known) {
  return call(() => native().ownSockets(known))
}

module.exports = { watchOpens, ownSockets }
