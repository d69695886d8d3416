// Package sched holds the cluster's decisions as pure functions: where a
// task goes (Place), what a service needs next (ReconcileService) and what
// a task's agent does next (ReconcileTask). Nothing here does I/O, reads
// a clock or draws an unseeded random number: the runtime reads nodes,
// services and tasks from the cluster's KV, calls these functions with
// that state and the time, and applies the actions they return. Tests do
// the same with generated states, which is how the invariants below are
// checked.
//
// The model is ECS's. A Node is a container instance with registered and
// remaining resources (CPU units, 1024 per vCPU; memory in MiB; host ports
// per protocol), attributes and the tasks it runs. A TaskDef is a task
// definition revision; Requirements turns it into what placement must
// find on a node.
//
// # Placement
//
// Place puts a batch of tasks of one group, one after another, updating
// its copy of the nodes as it goes. For each task it keeps the ACTIVE
// nodes that satisfy every constraint (distinctInstance, memberOf with the
// cluster query language of query.go) and have room (CPU, memory, ports),
// then orders them by the strategies in turn (binpack, spread, random);
// ties left after the last strategy are broken by a seeded hash, so a
// given seed always gives the same placements. A task no node can take
// gets the failure ECS reports for the closest node (RESOURCE:CPU,
// RESOURCE:MEMORY, RESOURCE:PORTS, "MemberOf placement constraint
// unsatisfied"...).
//
// # Service reconciliation
//
// ReconcileService compares a service's desired count with its tasks,
// deployment by deployment, and returns starts, stops, deployment state
// changes and service events. Its bounds, all of which the property tests
// check on every step:
//
//	minHealthy = ceil(desired × minimumHealthyPercent / 100)
//	maxRunning = floor(desired × maximumPercent / 100)
//	healthy tasks never drop below minHealthy because of a stop it chose
//	tasks not yet STOPPED never exceed maxRunning because of a start it chose
//
// Tasks on a lost node (no heartbeat within the timeout) or that failed
// their health checks are stopped and replaced at once, not bounded by
// minHealthy since they serve nothing. Tasks of older deployments and
// tasks on DRAINING nodes are replaced within the bounds. The deployment
// circuit breaker fails the primary deployment once its failed tasks reach
// clamp(ceil(desired/2), 3, 200) and, with rollback, starts a new
// deployment of the last COMPLETED task definition. A deployment is
// COMPLETED, and the service steady, once exactly the desired count of
// its tasks serve, nothing else runs, and they have been RUNNING for
// ServiceOptions.StableFor.
//
// Service deployments move PRIMARY/IN_PROGRESS → PRIMARY/COMPLETED
// (older ones → INACTIVE), or → FAILED: with rollback the failed one
// becomes ACTIVE and a new PRIMARY of the last completed definition takes
// over; without it the FAILED deployment launches no more tasks, as in
// ECS.
//
// # Task lifecycle
//
// ReconcileTask walks a task through ECS's statuses:
//
//	PROVISIONING → PENDING → ACTIVATING → RUNNING
//	      → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED
//
// and decides which containers may start now from their dependsOn
// conditions (START, COMPLETE, SUCCESS, HEALTHY).
package sched
