package lambdaapi

import (
	"net/http"

	"github.com/wharf-dev/wharf/api/lambda"
	"github.com/wharf-dev/wharf/functions"
)

func (s *Server) createFunction(w http.ResponseWriter, r *http.Request) error {
	var req lambda.CreateFunctionInput
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	name, qualifier, err := functions.ParseName(req.FunctionName)
	if err != nil {
		return err
	}
	if qualifier != "" {
		return invalidParam("FunctionName must not carry a qualifier when creating a function: %s", req.FunctionName)
	}
	if req.PackageType == functions.PackageImage || req.Code.ImageURI != "" {
		if err := authorizeAdmin(r, "CreateFunction", name, "creating an image function"); err != nil {
			return err
		}
	} else if err := authorize(r, "CreateFunction", name); err != nil {
		return err
	}
	if req.PackageType == functions.PackageImage && len(req.Layers) > 0 {
		return invalidParam("Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
	}
	if err := unsupportedCode(req.Code.S3Bucket, req.Code.S3Key, req.Layers); err != nil {
		return err
	}
	in := functions.CreateInput{
		Config: functions.Config{
			FunctionName: name, Runtime: req.Runtime, Role: req.Role, Handler: req.Handler,
			Description: req.Description, Timeout: int(deref(req.Timeout)), MemorySize: int(deref(req.MemorySize)),
			Architectures: req.Architectures, PackageType: req.PackageType,
			ImageConfig: fromWireImageConfig(req.ImageConfig),
		},
		Code:    functions.Code{ZipFile: req.Code.ZipFile, ImageURI: req.Code.ImageURI},
		Publish: req.Publish,
	}
	if req.Environment != nil {
		in.Environment = req.Environment.Variables
	}
	if req.EphemeralStorage != nil {
		in.EphemeralStorage = int(req.EphemeralStorage.Size)
	}
	c, err := s.svc.Create(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toWire(c))
}

// unsupportedCode refuses what wharf cannot fetch or mount: code in S3
// and layers. Saying so beats ignoring them.
func unsupportedCode(bucket, key string, layers []string) error {
	if bucket != "" || key != "" {
		return invalidParam("S3 code locations are not supported by wharf: upload the package as ZipFile")
	}
	if len(layers) > 0 {
		return invalidParam("Layers are not supported by wharf: include them in the package")
	}
	return nil
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request) error {
	all, err := s.svc.List(r.Context())
	if err != nil {
		return err
	}
	switch v := r.URL.Query().Get("FunctionVersion"); v {
	case "":
	case "ALL":
		// Every version of every function, each function's $LATEST first.
		var expanded []*functions.Config
		for _, c := range all {
			vs, err := s.svc.ListVersions(r.Context(), c.FunctionName)
			if err != nil {
				continue // deleted since List
			}
			expanded = append(expanded, vs...)
		}
		all = expanded
	default:
		return invalidParam("1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]", v)
	}
	from, to, next, err := page(r, len(all))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, lambda.ListFunctionsOutput{Functions: toWireAll(all[from:to]), NextMarker: next})
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request) error {
	name, qualifier, err := functionName(r)
	if err != nil {
		return err
	}
	c, err := s.svc.Get(r.Context(), name, qualifier)
	if err != nil {
		return err
	}
	out := lambda.GetFunctionOutput{Configuration: toWire(c)}
	if c.PackageType == functions.PackageImage {
		out.Code = lambda.FunctionCodeLocation{RepositoryType: "ECR", ImageURI: c.ImageURI, ResolvedImageURI: c.ResolvedImageURI}
	} else {
		// There is no S3 to point at; the package is not downloadable yet.
		out.Code = lambda.FunctionCodeLocation{RepositoryType: "S3"}
	}
	if c.ReservedConcurrency != nil {
		out.Concurrency = &lambda.Concurrency{ReservedConcurrentExecutions: int32Ptr(c.ReservedConcurrency)}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getConfiguration(w http.ResponseWriter, r *http.Request) error {
	name, qualifier, err := functionName(r)
	if err != nil {
		return err
	}
	c, err := s.svc.Get(r.Context(), name, qualifier)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toWire(c))
}

func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request) error {
	name, qualifier, err := functionName(r)
	if err != nil {
		return err
	}
	if err := s.svc.Delete(r.Context(), name, qualifier); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) updateCode(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	var req lambda.UpdateFunctionCodeInput
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ImageURI != "" {
		if err := authorizeAdmin(r, "UpdateFunctionCode", name, "giving a function an image"); err != nil {
			return err
		}
	}
	if err := unsupportedCode(req.S3Bucket, req.S3Key, nil); err != nil {
		return err
	}
	if len(req.Architectures) > 0 && (len(req.Architectures) != 1 || req.Architectures[0] != functions.ArchX8664) {
		return invalidParam("unsupported architectures %v: this host runs x86_64", req.Architectures)
	}
	var c *functions.Config
	if req.DryRun {
		// A dry run changes nothing: answer with the current configuration.
		c, err = s.svc.Get(r.Context(), name, "")
	} else {
		c, err = s.svc.UpdateCode(r.Context(), name, functions.Code{ZipFile: req.ZipFile, ImageURI: req.ImageURI}, req.Publish)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toWire(c))
}

func (s *Server) updateConfiguration(w http.ResponseWriter, r *http.Request) error {
	name, err := unqualifiedName(r)
	if err != nil {
		return err
	}
	var req lambda.UpdateFunctionConfigurationInput
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ImageConfig != nil {
		if err := authorizeAdmin(r, "UpdateFunctionConfiguration", name, "changing what runs from a function's image"); err != nil {
			return err
		}
	}
	if err := unsupportedCode("", "", req.Layers); err != nil {
		return err
	}
	u := functions.ConfigUpdate{
		Role: req.Role, Handler: req.Handler, Description: req.Description, Timeout: intPtr(req.Timeout),
		MemorySize: intPtr(req.MemorySize), Runtime: req.Runtime,
	}
	if req.ImageConfig != nil {
		// Present but empty clears the overrides.
		u.ImageConfig = fromWireImageConfig(req.ImageConfig)
	}
	if req.Environment != nil {
		// Present but without variables clears the environment.
		u.Environment = req.Environment.Variables
		if u.Environment == nil {
			u.Environment = map[string]string{}
		}
	}
	if req.EphemeralStorage != nil {
		size := int(req.EphemeralStorage.Size)
		u.EphemeralStorage = &size
	}
	c, err := s.svc.UpdateConfig(r.Context(), name, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toWire(c))
}
