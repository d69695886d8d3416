package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Create adds a function. c has passed Validate and has its code set
// (PutCode, or an image pinned or still to be pulled). The record is
// stored Pending first; then a zip package is checked and a pinned image
// taken, so that the function is Active (or Failed) when Create returns,
// and published if publish. A function whose image is still to be pulled
// stays Pending until FinishPull. Create returns the published version,
// or $LATEST.
func (s *Store) Create(ctx context.Context, c functions.Config, publish bool) (*functions.Config, error) {
	c.ImageConfig = copyImageConfig(c.ImageConfig)
	c.FunctionArn = functions.FunctionArn(c.FunctionName)
	c.Version = functions.LatestVersion
	c.LastModified = s.now().UTC()
	c.RevisionID = newRevision()
	c.ReservedConcurrency = nil
	c.State, c.StateReason, c.StateReasonCode = functions.StatePending, "Creating the function", "Creating"
	if awaitingImage(&c) {
		c.StateReason = "Pulling the image " + c.ImageURI
	}
	c.LastUpdateStatus = functions.UpdateSuccessful

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.fns[c.FunctionName]; exists {
		return nil, fmt.Errorf("Function already exist: %s: %w", c.FunctionName, errdefs.ErrConflict)
	}
	r := &record{Latest: c, Versions: map[string]functions.Config{}, Aliases: map[string]functions.Alias{}, NextVersion: 1}
	s.fns[c.FunctionName] = r
	if err := s.saveLocked(r); err != nil {
		delete(s.fns, c.FunctionName)
		return nil, err
	}
	if awaitingImage(&c) {
		out := r.view(r.Latest)
		return &out, nil
	}
	// Checking the package is quick, so it is done at once; a crash
	// before it finishes on the next start.
	s.finishPendingLocked(r)
	if publish && r.Latest.State == functions.StateActive {
		v := r.view(s.publishLocked(r, ""))
		return &v, nil
	}
	out := r.view(r.Latest)
	return &out, nil
}

// finishPendingLocked moves a Pending $LATEST whose code is in place to
// Active or Failed. The caller holds s.mu.
func (s *Store) finishPendingLocked(r *record) {
	c := &r.Latest
	if c.PackageType == functions.PackageZip && !hasBootstrap(s.CodeDir(c)) {
		c.State = functions.StateFailed
		c.StateReasonCode = "InvalidEntrypoint"
		c.StateReason = "The function package has no executable bootstrap file at its root (runtime " + c.Runtime + ")"
	} else {
		c.State, c.StateReason, c.StateReasonCode = functions.StateActive, "", ""
	}
	c.LastUpdateStatus = functions.UpdateSuccessful
	if err := s.saveLocked(r); err != nil {
		s.log.Error("saving a function record", "function", c.FunctionName, "err", err)
	}
}

// Get returns the configuration a qualifier ("" or $LATEST, a version, an
// alias) names.
func (s *Store) Get(ctx context.Context, name, qualifier string) (*functions.Config, error) {
	c, _, err := s.Resolve(name, qualifier)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Resolve returns the configuration a qualifier names and the version it
// is ($LATEST or a number).
func (s *Store) Resolve(name, qualifier string) (functions.Config, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return functions.Config{}, "", err
	}
	return r.resolve(qualifier)
}

// List returns $LATEST of every function, by name.
func (s *Store) List(ctx context.Context) ([]*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*functions.Config, 0, len(s.fns))
	for _, r := range s.fns {
		c := r.view(r.Latest)
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FunctionName < out[j].FunctionName })
	return out, nil
}

// SetCode gives $LATEST new code: the code fields of code (CodeSha256,
// CodeSize, ImageURI, ResolvedImageURI, ImageID), set as for Create, and
// a new revision; it is checked as Create checks it, and published if
// publish. The function's other fields are its current ones.
func (s *Store) SetCode(ctx context.Context, name string, code functions.Config, publish bool) (*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	c := &r.Latest
	c.CodeSha256, c.CodeSize = code.CodeSha256, code.CodeSize
	c.ImageURI, c.ResolvedImageURI, c.ImageID = code.ImageURI, code.ResolvedImageURI, code.ImageID
	c.LastModified, c.RevisionID = s.now().UTC(), newRevision()
	c.State = functions.StatePending
	s.finishPendingLocked(r)
	latest := r.view(r.Latest)
	s.changed(Change{Function: name, Version: functions.LatestVersion, Latest: &latest})
	if publish && r.Latest.State == functions.StateActive {
		v := r.view(s.publishLocked(r, ""))
		return &v, nil
	}
	return &latest, nil
}

// UpdateConfig changes $LATEST's configuration: the fields u sets.
func (s *Store) UpdateConfig(ctx context.Context, name string, u functions.ConfigUpdate) (*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	c := r.Latest
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Role, u.Role)
	set(&c.Handler, u.Handler)
	set(&c.Description, u.Description)
	set(&c.Runtime, u.Runtime)
	if u.Timeout != nil {
		c.Timeout = *u.Timeout
	}
	if u.MemorySize != nil {
		c.MemorySize = *u.MemorySize
	}
	if u.EphemeralStorage != nil {
		c.EphemeralStorage = *u.EphemeralStorage
	}
	if u.Environment != nil {
		c.Environment = make(map[string]string, len(u.Environment))
		for k, v := range u.Environment {
			c.Environment[k] = v
		}
	}
	if u.ImageConfig != nil {
		if c.PackageType != functions.PackageImage {
			return nil, fmt.Errorf("ImageConfig is only supported for functions of PackageType Image: %w", errdefs.ErrInvalidArgument)
		}
		c.ImageConfig = copyImageConfig(u.ImageConfig)
	}
	if err := validate(&c); err != nil {
		return nil, err
	}
	c.LastModified, c.RevisionID = s.now().UTC(), newRevision()
	old := r.Latest
	r.Latest = c
	if err := s.saveLocked(r); err != nil {
		r.Latest = old
		return nil, err
	}
	latest := r.view(r.Latest)
	s.changed(Change{Function: name, Version: functions.LatestVersion, Latest: &latest})
	return &latest, nil
}

// Delete deletes the function (qualifier "") or one published version;
// $LATEST is only deleted with the function, and a version an alias
// names not at all.
func (s *Store) Delete(ctx context.Context, name, qualifier string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return err
	}
	switch qualifier {
	case "":
		if err := atomicfile.Remove(s.recordPath(name)); err != nil {
			return err
		}
		delete(s.fns, name)
		s.changed(Change{Function: name})
		return nil
	case functions.LatestVersion:
		return fmt.Errorf("$LATEST version cannot be deleted without deleting the function: %w", errdefs.ErrInvalidArgument)
	}
	if _, ok := r.Versions[qualifier]; !ok {
		return fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, qualifier, errdefs.ErrNotFound)
	}
	for _, a := range r.Aliases {
		if a.FunctionVersion == qualifier {
			return fmt.Errorf("Unable to delete version because the following aliases reference it: [%s]: %w", a.Name, errdefs.ErrConflict)
		}
	}
	v := r.Versions[qualifier]
	delete(r.Versions, qualifier)
	if err := s.saveLocked(r); err != nil {
		r.Versions[qualifier] = v
		return err
	}
	s.changed(Change{Function: name, Version: qualifier})
	return nil
}

// PublishVersion publishes $LATEST as the next version, or returns the
// newest version when nothing changed since it was published (as Lambda
// does). Only an Active function is published.
func (s *Store) PublishVersion(ctx context.Context, name, description string) (*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	if r.Latest.State != functions.StateActive {
		return nil, fmt.Errorf("The operation cannot be performed at this time. The function is currently in the following state: %s: %w", r.Latest.State, errdefs.ErrConflict)
	}
	v := r.view(s.publishLocked(r, description))
	return &v, nil
}

// publishLocked snapshots $LATEST as the next version, unless the newest
// version already has the same code and configuration. The caller holds
// s.mu.
func (s *Store) publishLocked(r *record, description string) functions.Config {
	if last, ok := r.Versions[strconv.Itoa(r.NextVersion-1)]; ok && last.RevisionID == r.Latest.RevisionID {
		return last
	}
	v := r.view(r.Latest)
	v.Version = strconv.Itoa(r.NextVersion)
	v.FunctionArn = r.Latest.FunctionArn + ":" + v.Version
	// Reserved concurrency is the function's, not a version's.
	v.ReservedConcurrency = nil
	if description != "" {
		v.Description = description
	}
	r.Versions[v.Version] = v
	r.NextVersion++
	if err := s.saveLocked(r); err != nil {
		s.log.Error("saving a function record", "function", r.Latest.FunctionName, "err", err)
	}
	return v
}

// ListVersions returns $LATEST and the published versions, in order.
func (s *Store) ListVersions(ctx context.Context, name string) ([]*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	var out []*functions.Config
	for _, c := range r.sortedVersions() {
		c := r.view(c)
		out = append(out, &c)
	}
	return out, nil
}

// PutConcurrency reserves concurrency for the function.
func (s *Store) PutConcurrency(ctx context.Context, name string, reserved int) error {
	if reserved < 0 {
		return fmt.Errorf("ReservedConcurrentExecutions must be zero or more: %w", errdefs.ErrInvalidArgument)
	}
	return s.setConcurrency(name, &reserved)
}

// DeleteConcurrency removes the function's reserved concurrency.
func (s *Store) DeleteConcurrency(ctx context.Context, name string) error {
	return s.setConcurrency(name, nil)
}

func (s *Store) setConcurrency(name string, reserved *int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return err
	}
	old := r.Latest.ReservedConcurrency
	r.Latest.ReservedConcurrency = reserved
	if err := s.saveLocked(r); err != nil {
		r.Latest.ReservedConcurrency = old
		return err
	}
	return nil
}

// Exists reports whether function name exists (ErrNotFound if not).
func (s *Store) Exists(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.getLocked(name)
	return err
}

// IfCurrent runs fn, with the store locked, if $LATEST of function name is
// still at revision; it reports whether it did. A change (WithChanges)
// comes either before, and fn does not run, or after fn.
func (s *Store) IfCurrent(name, revision string, fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil || r.Latest.RevisionID != revision {
		return false
	}
	fn()
	return true
}

// ImageInUse reports whether any function or version runs the image with
// this ID.
func (s *Store) ImageInUse(imageID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.fns {
		if r.Latest.ImageID == imageID {
			return true
		}
		for _, v := range r.Versions {
			if v.ImageID == imageID {
				return true
			}
		}
	}
	return false
}

// A Pull is an image function waiting for its image.
type Pull struct {
	Function, ImageURI string
}

// AwaitingImage lists the image functions Pending until their image is
// pulled.
func (s *Store) AwaitingImage() []Pull {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pull
	for _, r := range s.fns {
		if r.Latest.State == functions.StatePending && awaitingImage(&r.Latest) {
			out = append(out, Pull{Function: r.Latest.FunctionName, ImageURI: r.Latest.ImageURI})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	return out
}

// FinishPull ends the wait of an image function for ref: with pin (the
// code fields of the image pulled, as for SetCode) it becomes Active, and
// is published if publish; with pin nil it is Failed, InvalidImage, for
// reason. It does nothing, and reports false, if the function was deleted
// or its code changed meanwhile (a configuration change does not matter:
// the image is still the one to pull).
func (s *Store) FinishPull(ctx context.Context, name, ref string, pin *functions.Config, reason string, publish bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil || r.Latest.State != functions.StatePending || !awaitingImage(&r.Latest) || r.Latest.ImageURI != ref {
		return false
	}
	c := &r.Latest
	if pin == nil {
		c.State, c.StateReasonCode, c.StateReason = functions.StateFailed, "InvalidImage", reason
	} else {
		c.ResolvedImageURI, c.ImageID, c.CodeSha256, c.CodeSize = pin.ResolvedImageURI, pin.ImageID, pin.CodeSha256, pin.CodeSize
		c.State, c.StateReason, c.StateReasonCode = functions.StateActive, "", ""
	}
	c.LastUpdateStatus = functions.UpdateSuccessful
	if err := s.saveLocked(r); err != nil {
		s.log.Error("saving a function record", "function", name, "err", err)
	}
	if publish && c.State == functions.StateActive {
		s.publishLocked(r, "")
	}
	return true
}
