// Package sched schedules the work units of one job over the workers
// that come and go, as a deterministic state machine.
//
// A Machine starts no goroutines and reads no clock. Its caller, the
// job's manager, feeds it the current time with every event: a worker
// joins (AddWorker), leaves (RemoveWorker), is heard from (Heartbeat) or
// reports a unit's result (HandleReport), or time passes (Tick, due at
// NextDeadline). After each call the caller drains Outbox, the
// assignments and revocations to send to workers, and Commits, the unit
// results to fold into the job's aggregate. The daemon and the simulator
// drive the same Machine.
//
// The guarantees:
//
//   - Each unit is committed at most once per job, whatever the order of
//     reports, copies and late results.
//   - Every unit ends committed or failed while enough workers stay
//     alive: one with Verify 1, else Verify distinct ones. Lower-tier
//     workers take large units only when no other worker is in the job,
//     so enough workers of the upper and middle tiers, or of the lower
//     tier alone, suffice.
//   - A lease lasts LeaseDuration from the worker's last heartbeat. A
//     worker that leaves or stalls loses its leases and their units go to
//     other workers; a result it sends later still counts if the unit is
//     not committed yet.
//   - A joining or idle worker gets a unit at once: a pending one, or a
//     copy of a straggler that has run longer than StragglerAfter. A
//     pending unit whose holders or cluster are known goes only to a
//     worker of that place until it has waited LocalityWait, unless no
//     worker of that place is in the job.
//   - A unit whose run failed goes to a worker that has not failed it
//     while a live one in the job may run it. Only otherwise does it go
//     back to a worker that failed it, so that it still ends after
//     MaxAttempts failures.
//   - Every message carries the manager's epoch. A backup that takes over
//     from a Snapshot runs at a higher epoch; workers fence older epochs
//     with a Fence, and the Machine rejects reports from other epochs.
//
// Exactly-once counting needs one thing from the caller: the aggregate
// that Commits feed must be saved together with the Snapshot it matches,
// and a sink that stores it must reject commits of an older epoch. A
// backup then restores both and reruns the units committed after them.
package sched
