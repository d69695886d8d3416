package functions

import (
	"context"
	"fmt"
	"sort"

	"github.com/wharf-dev/wharf/errdefs"
)

var validAlias = nameMatcher(validAliasName)

func (e *Engine) checkAlias(r *record, a *Alias) error {
	if !validAlias.MatchString(a.Name) || isNumber(a.Name) {
		return fmt.Errorf("invalid alias name %q: %w", a.Name, errdefs.ErrInvalidArgument)
	}
	if a.FunctionVersion != LatestVersion {
		if _, ok := r.Versions[a.FunctionVersion]; !ok {
			return fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, a.FunctionVersion, errdefs.ErrNotFound)
		}
	}
	a.AliasArn = r.Latest.FunctionArn + ":" + a.Name
	a.RevisionID = newRevision()
	return nil
}

// CreateAlias implements Service.
func (e *Engine) CreateAlias(ctx context.Context, name string, a Alias) (*Alias, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	if _, exists := r.Aliases[a.Name]; exists {
		return nil, fmt.Errorf("Alias already exists: %s:%s: %w", r.Latest.FunctionArn, a.Name, errdefs.ErrConflict)
	}
	if err := e.checkAlias(r, &a); err != nil {
		return nil, err
	}
	r.Aliases[a.Name] = a
	return &a, e.st.saveLocked(r)
}

// UpdateAlias implements Service: a new version and/or description.
func (e *Engine) UpdateAlias(ctx context.Context, name string, a Alias) (*Alias, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	old, ok := r.Aliases[a.Name]
	if !ok {
		return nil, fmt.Errorf("Alias not found: %s:%s: %w", r.Latest.FunctionArn, a.Name, errdefs.ErrNotFound)
	}
	if a.FunctionVersion == "" {
		a.FunctionVersion = old.FunctionVersion
	}
	if a.Description == "" {
		a.Description = old.Description
	}
	if err := e.checkAlias(r, &a); err != nil {
		return nil, err
	}
	r.Aliases[a.Name] = a
	return &a, e.st.saveLocked(r)
}

// GetAlias implements Service.
func (e *Engine) GetAlias(ctx context.Context, name, alias string) (*Alias, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	a, ok := r.Aliases[alias]
	if !ok {
		return nil, fmt.Errorf("Alias not found: %s:%s: %w", r.Latest.FunctionArn, alias, errdefs.ErrNotFound)
	}
	return &a, nil
}

// DeleteAlias implements Service.
func (e *Engine) DeleteAlias(ctx context.Context, name, alias string) error {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return err
	}
	if _, ok := r.Aliases[alias]; !ok {
		return fmt.Errorf("Alias not found: %s:%s: %w", r.Latest.FunctionArn, alias, errdefs.ErrNotFound)
	}
	delete(r.Aliases, alias)
	return e.st.saveLocked(r)
}

// ListAliases implements Service.
func (e *Engine) ListAliases(ctx context.Context, name string) ([]*Alias, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	out := make([]*Alias, 0, len(r.Aliases))
	for _, a := range r.Aliases {
		a := a
		out = append(out, &a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
