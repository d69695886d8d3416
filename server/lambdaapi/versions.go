package lambdaapi

import (
	"net/http"

	"github.com/wharf-dev/wharf/api/lambda"
	"github.com/wharf-dev/wharf/functions"
)

func (s *Server) publishVersion(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	var req lambda.PublishVersionInput
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	c, err := s.svc.PublishVersion(r.Context(), name, req.Description)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toWire(c))
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	vs, err := s.svc.ListVersions(r.Context(), name)
	if err != nil {
		return err
	}
	from, to, next, err := page(r, len(vs))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, lambda.ListVersionsByFunctionOutput{Versions: toWireAll(vs[from:to]), NextMarker: next})
}

// aliasRequest decodes an alias body; wharf routes an alias to one version.
func aliasRequest(r *http.Request) (functions.Alias, error) {
	var req lambda.AliasInput
	if err := decodeJSON(r, &req); err != nil {
		return functions.Alias{}, err
	}
	if req.RoutingConfig != nil && len(req.RoutingConfig.AdditionalVersionWeights) > 0 {
		return functions.Alias{}, invalidParam("weighted aliases (RoutingConfig) are not supported by wharf")
	}
	return functions.Alias{Name: req.Name, FunctionVersion: req.FunctionVersion, Description: req.Description}, nil
}

func (s *Server) createAlias(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	a, err := aliasRequest(r)
	if err != nil {
		return err
	}
	out, err := s.svc.CreateAlias(r.Context(), name, a)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, aliasToWire(out))
}

func (s *Server) updateAlias(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	a, err := aliasRequest(r)
	if err != nil {
		return err
	}
	a.Name = r.PathValue("alias")
	out, err := s.svc.UpdateAlias(r.Context(), name, a)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, aliasToWire(out))
}

func (s *Server) getAlias(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	out, err := s.svc.GetAlias(r.Context(), name, r.PathValue("alias"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, aliasToWire(out))
}

func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteAlias(r.Context(), name, r.PathValue("alias")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAliases(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	as, err := s.svc.ListAliases(r.Context(), name)
	if err != nil {
		return err
	}
	out := make([]lambda.AliasConfiguration, 0, len(as))
	version := r.URL.Query().Get("FunctionVersion")
	for _, a := range as {
		if version == "" || a.FunctionVersion == version {
			out = append(out, aliasToWire(a))
		}
	}
	from, to, next, err := page(r, len(out))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, lambda.ListAliasesOutput{Aliases: out[from:to], NextMarker: next})
}

func (s *Server) putConcurrency(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	var req lambda.Concurrency
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ReservedConcurrentExecutions == nil {
		return invalidParam("ReservedConcurrentExecutions is required")
	}
	if err := s.svc.PutConcurrency(r.Context(), name, int(*req.ReservedConcurrentExecutions)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, lambda.Concurrency{ReservedConcurrentExecutions: req.ReservedConcurrentExecutions})
}

func (s *Server) getConcurrency(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	c, err := s.svc.Get(r.Context(), name, "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, lambda.Concurrency{ReservedConcurrentExecutions: int32Ptr(c.ReservedConcurrency)})
}

func (s *Server) deleteConcurrency(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteConcurrency(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
