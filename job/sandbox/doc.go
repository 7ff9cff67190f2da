// Package sandbox runs the user-defined map and filter steps of a job as
// WebAssembly modules (WASI preview 1) in wazero, with limits on memory,
// time and output, and with no access to the host.
//
// A module can reach only what WASI preview 1 forces a runtime to offer,
// and each of those is cut off or made fake:
//
//   - Files: no directory is preopened, so path_open and every other
//     path call fail. Only descriptors 0, 1 and 2 exist.
//   - Network: no socket is preopened, so sock_accept, sock_recv and
//     sock_send fail. WASI preview 1 cannot open a socket by itself.
//   - Environment: empty. Arguments: only those the job gives.
//   - Clocks: wazero's fake clocks. The wall clock starts at a fixed
//     instant and both clocks advance 1 ms per reading, whatever the
//     real time. Sleeps (poll_oneoff) return at once.
//   - Randomness: wazero's fake, deterministic source.
//
// Because nothing a module can observe varies between runs, the same
// module on the same input yields the same output on any worker, which
// lets the scheduler compare the results of two workers.
//
// The ABI between host and module is JSON lines, described in package
// guest, which modules written in Go import.
package sandbox
