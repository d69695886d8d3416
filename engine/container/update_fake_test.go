package container_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
)

// docker update: a running container's cgroup changes at once and its
// record with it; a stopped one's record, which its next start applies;
// the restart policy takes effect at the next exit.
func TestUpdate(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	ctx := context.Background()
	o := cmd("sleep", "100")
	o.HostConfig.Memory = 64 << 20
	id := mustRun(t, e, o)
	sub, err := f.Events.Subscribe(events.SubscribeOptions{Filter: events.Filter{"event": {"update"}}.Match})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	fifty := int64(50)
	w, err := e.Update(ctx, id, container.UpdateOptions{
		Resources: container.Resources{Memory: 100 << 20, CPUShares: 512, NanoCPUs: 5e8, CpusetCpus: "0", MemoryReservation: 32 << 20},
		PidsLimit: &fifty,
	})
	if err != nil {
		t.Fatalf("update: %v (%v)", err, w)
	}
	r := f.Host.Resources(id)
	if r.Memory == nil || *r.Memory.Limit != 100<<20 || *r.Memory.Swap != 128<<20 || *r.Memory.Reservation != 32<<20 ||
		*r.CPU.Shares != 512 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || r.CPU.Cpus != "0" || *r.Pids.Limit != 50 {
		t.Fatalf("cgroup after the update: %+v %+v %+v", r.Memory, r.CPU, r.Pids)
	}
	c, _ := e.Get(ctx, id)
	h := c.HostConfig
	if h.Memory != 100<<20 || h.MemorySwap != 128<<20 || h.CPUShares != 512 || h.NanoCPUs != 5e8 || h.CpusetCpus != "0" || h.PidsLimit != 50 || h.MemoryReservation != 32<<20 {
		t.Fatalf("record after the update: %+v", h)
	}
	if ev, err := sub.Next(ctx); err != nil || ev.Actor.ID != id {
		t.Fatalf("update event: %+v, %v", ev, err)
	}

	// Refused: a conflict with what was set, a limit dockerd refuses.
	if _, err := e.Update(ctx, id, container.UpdateOptions{Resources: container.Resources{CPUQuota: 20000}}); !errdefs.IsConflict(err) ||
		!strings.Contains(err.Error(), "Cannot update container "+id+": Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set") {
		t.Errorf("quota over nano CPUs: %v", err)
	}
	if _, err := e.Update(ctx, id, container.UpdateOptions{Resources: container.Resources{Memory: 1 << 20}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("1MB: %v", err)
	}
	if r := f.Host.Resources(id); *r.Memory.Limit != 100<<20 {
		t.Errorf("a refused update changed the cgroup: %d", *r.Memory.Limit)
	}

	// A stopped container: the record only, applied at its next start.
	zero := 0
	if err := e.Stop(ctx, id, &zero, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update(ctx, id, container.UpdateOptions{Resources: container.Resources{CPUShares: 256}, RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r := f.Host.Resources(id); *r.CPU.Shares != 256 || *r.Memory.Limit != 100<<20 || *r.Pids.Limit != 50 {
		t.Errorf("cgroup at the next start: %+v %+v", r.CPU, r.Pids)
	}
	// The new policy restarts it when it fails.
	if err := e.Kill(ctx, id, "USR1"); err != nil { // sleep as init ignores it
		t.Fatal(err)
	}
	if c, _ := e.Get(ctx, id); c.HostConfig.RestartPolicy.Name != "on-failure" || c.HostConfig.RestartPolicy.MaximumRetryCount != 2 {
		t.Fatalf("policy %+v", c.HostConfig.RestartPolicy)
	}

	// An --rm container keeps no restart policy.
	o = cmd("sleep", "100")
	o.HostConfig.AutoRemove = true
	rm := mustRun(t, e, o)
	if _, err := e.Update(ctx, rm, container.UpdateOptions{RestartPolicy: container.RestartPolicy{Name: "always"}}); !errdefs.IsConflict(err) {
		t.Errorf("restart policy of an --rm container: %v", err)
	}
}

// The policy an update sets is the one the next exit applies.
func TestUpdateRestartPolicyApplies(t *testing.T) {
	f := newFakeEngine(t)
	e := f.Engine(t)
	ctx := context.Background()
	// The first two runs fail; the third sleeps.
	id := mustRun(t, e, cmd("sh", "-c", "cat /tmp/n2 && sleep 100; cat /tmp/n1 && echo x > /tmp/n2; echo x > /tmp/n1; exit 3"))
	if _, err := e.Wait(ctx, id, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update(ctx, id, container.UpdateOptions{RestartPolicy: container.RestartPolicy{Name: "on-failure"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restarted by the updated policy", func() bool {
		c, _ := e.Get(ctx, id)
		return c.RestartCount == 1 && c.State.Status == container.StatusRunning
	})
}
