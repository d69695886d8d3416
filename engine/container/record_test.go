package container

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Concurrent updates of one container land on disk in the order they were
// applied (the last one wins), while other containers' updates run beside
// them without the engine lock held across the writes.
func TestRecordWritesInOrder(t *testing.T) {
	root := t.TempDir()
	e := &Engine{root: root, byID: map[string]*entry{}, log: slog.New(slog.DiscardHandler)}
	var ens []*entry
	for _, id := range []string{"c1", "c2"} {
		if err := os.MkdirAll(filepath.Join(root, id), 0o700); err != nil {
			t.Fatal(err)
		}
		en := &entry{c: &Container{ID: id}, changed: make(chan struct{})}
		e.byID[id] = en
		ens = append(ens, en)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		for _, en := range ens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.updateVolatile(en, func(c *Container) { c.RestartCount++ })
			}()
		}
	}
	wg.Wait()
	for _, en := range ens {
		data, err := os.ReadFile(filepath.Join(root, en.c.ID, "container.json"))
		if err != nil {
			t.Fatal(err)
		}
		var c Container
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		if c.RestartCount != 50 || en.c.RestartCount != 50 {
			t.Errorf("%s: on disk %d, in memory %d, want 50", en.c.ID, c.RestartCount, en.c.RestartCount)
		}
	}
	// A removed container's record is not written again.
	ens[0].removed = true
	e.update(ens[0], func(c *Container) { c.RestartCount = 99 })
	data, _ := os.ReadFile(filepath.Join(root, "c1", "container.json"))
	var c Container
	_ = json.Unmarshal(data, &c)
	if c.RestartCount != 50 {
		t.Errorf("the record of a removed container was rewritten: %d", c.RestartCount)
	}
}
