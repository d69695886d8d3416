package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/internal/natsbox"
)

func testDataKey(t *testing.T) *secrets.Key {
	t.Helper()
	raw, err := secrets.NewRawKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := secrets.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The cluster's access keys are sealed in its state: the raw bucket holds
// neither a key's secret nor its policy; another cluster's data key does
// not open them; a sealed blob moved to another key's record does not
// open there; a record written in clear (before keys were sealed) is
// read and sealed in place.
func TestClusterKeysSealed(t *testing.T) {
	b, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st, err := state.New(b.Conn(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dk := testDataKey(t)
	c := newClusterKeys(st, dk, log)

	secret := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	k1 := identity.Key{AccessKeyID: "AKIDSEALED0000000001", SecretAccessKey: secret, Created: time.Now().UTC().Truncate(time.Second),
		Statements: []identity.Statement{{Service: "lambda", Actions: []string{"InvokeFunction"}, Resource: "only-this-one"}}}
	if err := c.Put(ctx, k1); err != nil {
		t.Fatal(err)
	}
	raw := state.NewTable[json.RawMessage](st, bucketKeys)
	e, err := raw.Get(ctx, k1.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Value, []byte(secret)) || bytes.Contains(e.Value, []byte("only-this-one")) || bytes.Contains(e.Value, []byte("InvokeFunction")) {
		t.Fatalf("the stored record shows the key's secret or policy: %s", e.Value)
	}
	got, err := c.List(ctx)
	if err != nil || len(got) != 1 {
		t.Fatalf("List: %v, %v", got, err)
	}
	if g := got[0]; g.SecretAccessKey != secret || !g.Created.Equal(k1.Created) || len(g.Statements) != 1 || g.Statements[0].Resource != "only-this-one" {
		t.Fatalf("List gave %+v, want %+v", g, k1)
	}

	// Another cluster's key reads nothing (and says so in its log).
	if got, err := newClusterKeys(st, testDataKey(t), log).List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("List under another data key: %v, %v", got, err)
	}

	// k1's sealed blob copied into another key's record does not open:
	// the seal is bound to the key's id.
	k2 := identity.Key{AccessKeyID: "AKIDSEALED0000000002", SecretAccessKey: "other-secret-0000000000000000000000000", Created: k1.Created}
	if err := c.Put(ctx, k2); err != nil {
		t.Fatal(err)
	}
	tbl := state.NewTable[storedKey](st, bucketKeys)
	e1, err := tbl.Get(ctx, k1.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := tbl.Get(ctx, k2.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	moved := e2.Value
	moved.Sealed = e1.Value.Sealed
	if _, err := tbl.Update(ctx, k2.AccessKeyID, moved, e2.Revision); err != nil {
		t.Fatal(err)
	}
	got, err = c.List(ctx)
	if err != nil || len(got) != 1 || got[0].AccessKeyID != k1.AccessKeyID {
		t.Fatalf("List after a blob moved to another id: %+v, %v (want k1 alone)", got, err)
	}
	if err := c.Delete(ctx, k2.AccessKeyID); err != nil {
		t.Fatal(err)
	}

	// A record in clear, as written before keys were sealed.
	legacy := storedKey{AccessKeyID: "AKIDLEGACY0000000003", Created: k1.Created, SecretAccessKey: "legacy-secret-00000000000000000000000"}
	if _, err := tbl.Create(ctx, legacy.AccessKeyID, legacy); err != nil {
		t.Fatal(err)
	}
	got, err = c.List(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("List with a legacy record: %+v, %v", got, err)
	}
	e3, err := raw.Get(ctx, legacy.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e3.Value, []byte("legacy-secret")) {
		t.Fatalf("a legacy record is still in clear after a read: %s", e3.Value)
	}
	got, err = c.List(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("List after sealing: %+v, %v", got, err)
	}
	for _, g := range got {
		if g.AccessKeyID == legacy.AccessKeyID && g.SecretAccessKey != legacy.SecretAccessKey {
			t.Fatalf("the sealed legacy key reads back as %+v", g)
		}
	}

	// The watch gives opened keys and deletions.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	k4 := identity.Key{AccessKeyID: "AKIDSEALED0000000004", SecretAccessKey: "watched-secret-000000000000000000000", Created: k1.Created}
	// One change at a time: a watch that starts after both the put and
	// the delete were stored gives only the key's last state, the delete.
	await := func(what string, match func(ev identity.SharedChange) bool) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case ev := <-ch:
				if ev.Key.AccessKeyID == k4.AccessKeyID && match(ev) {
					return
				}
			case <-deadline:
				t.Fatalf("watch: no %s of %s within 30s", what, k4.AccessKeyID)
			}
		}
	}
	if err := c.Put(ctx, k4); err != nil {
		t.Fatal(err)
	}
	await("opened put", func(ev identity.SharedChange) bool {
		return !ev.Deleted && ev.Key.SecretAccessKey == k4.SecretAccessKey
	})
	if err := c.Delete(ctx, k4.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	await("delete", func(ev identity.SharedChange) bool { return ev.Deleted })
}
