package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

// checkAlias checks an alias to be stored and sets its ARN and revision.
func checkAlias(r *record, a *functions.Alias) error {
	if !functions.ValidAliasName(a.Name) {
		return fmt.Errorf("invalid alias name %q: %w", a.Name, errdefs.ErrInvalidArgument)
	}
	if a.FunctionVersion == "" {
		return fmt.Errorf("1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null: %w", errdefs.ErrInvalidArgument)
	}
	if a.FunctionVersion != functions.LatestVersion {
		if _, ok := r.Versions[a.FunctionVersion]; !ok {
			return fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, a.FunctionVersion, errdefs.ErrNotFound)
		}
	}
	a.AliasArn = r.Latest.FunctionArn + ":" + a.Name
	a.RevisionID = newRevision()
	return nil
}

// aliasNotFound is the error for an alias the function does not have.
func aliasNotFound(r *record, alias string) error {
	return fmt.Errorf("Alias not found: %s:%s: %w", r.Latest.FunctionArn, alias, errdefs.ErrNotFound)
}

// CreateAlias names a version of the function.
func (s *Store) CreateAlias(ctx context.Context, name string, a functions.Alias) (*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	if _, exists := r.Aliases[a.Name]; exists {
		return nil, fmt.Errorf("Alias already exists: %s:%s: %w", r.Latest.FunctionArn, a.Name, errdefs.ErrConflict)
	}
	if err := checkAlias(r, &a); err != nil {
		return nil, err
	}
	return s.putAliasLocked(r, a, nil)
}

// UpdateAlias points an alias at another version and/or changes its
// description; empty fields stay as they are.
func (s *Store) UpdateAlias(ctx context.Context, name string, a functions.Alias) (*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	old, ok := r.Aliases[a.Name]
	if !ok {
		return nil, aliasNotFound(r, a.Name)
	}
	if a.FunctionVersion == "" {
		a.FunctionVersion = old.FunctionVersion
	}
	if a.Description == "" {
		a.Description = old.Description
	}
	if err := checkAlias(r, &a); err != nil {
		return nil, err
	}
	return s.putAliasLocked(r, a, &old)
}

// putAliasLocked stores a, putting old back (or none) if the record cannot
// be saved.
func (s *Store) putAliasLocked(r *record, a functions.Alias, old *functions.Alias) (*functions.Alias, error) {
	r.Aliases[a.Name] = a
	if err := s.saveLocked(r); err != nil {
		if old != nil {
			r.Aliases[a.Name] = *old
		} else {
			delete(r.Aliases, a.Name)
		}
		return nil, err
	}
	return &a, nil
}

// GetAlias returns an alias of the function.
func (s *Store) GetAlias(ctx context.Context, name, alias string) (*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	a, ok := r.Aliases[alias]
	if !ok {
		return nil, aliasNotFound(r, alias)
	}
	return &a, nil
}

// DeleteAlias deletes an alias of the function.
func (s *Store) DeleteAlias(ctx context.Context, name, alias string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return err
	}
	old, ok := r.Aliases[alias]
	if !ok {
		return aliasNotFound(r, alias)
	}
	delete(r.Aliases, alias)
	if err := s.saveLocked(r); err != nil {
		r.Aliases[alias] = old
		return err
	}
	return nil
}

// ListAliases returns the function's aliases, by name.
func (s *Store) ListAliases(ctx context.Context, name string) ([]*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.getLocked(name)
	if err != nil {
		return nil, err
	}
	out := make([]*functions.Alias, 0, len(r.Aliases))
	for _, a := range r.Aliases {
		a := a
		out = append(out, &a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
