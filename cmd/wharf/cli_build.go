package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// maxSecret bounds one --secret, as BuildKit does (500 KiB).
const maxSecret = 500 << 10

// buildFlags are `wharf build`'s options.
type buildFlags struct {
	tags, buildArgs, labels, secrets, cacheFrom []string
	file, target, iidfile, network, progress    string
	noCache, pull, quiet                        bool
}

// newBuildCommand is `wharf build`: the CLI sends the context (with
// .dockerignore applied here, so excluded files are neither read nor
// sent) and renders the daemon's progress; the build runs in the daemon.
func newBuildCommand() *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "Name and optionally a tag (name:tag); may be repeated")
	fl.StringVarP(&f.file, "file", "f", "", "Name of the Dockerfile (default: PATH/Dockerfile; - for stdin)")
	fl.StringVar(&f.target, "target", "", "Build this stage (and what it needs) only")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "Set a build-time variable (KEY=VALUE, or KEY to take it from the environment)")
	fl.StringArrayVar(&f.labels, "label", nil, "Set metadata on the image (KEY=VALUE)")
	fl.StringArrayVar(&f.secrets, "secret", nil, "Secret for RUN --mount=type=secret: id=ID[,src=PATH|,env=VAR]")
	fl.StringArrayVar(&f.cacheFrom, "cache-from", nil, "Images to consider as cache sources")
	fl.StringVar(&f.iidfile, "iidfile", "", "Write the image ID to this file")
	fl.StringVar(&f.network, "network", "", "Network of RUN steps: none (default), host, default")
	fl.StringVar(&f.progress, "progress", "auto", "Progress output: auto, plain, tty, quiet")
	fl.BoolVar(&f.noCache, "no-cache", false, "Do not use the cache")
	fl.BoolVar(&f.pull, "pull", false, "Always pull the base images")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "Print only the image ID")
	return cmd
}

func parseKV(list []string, env bool) (map[string]*string, error) {
	out := map[string]*string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid argument %q: a key is required", kv)
		}
		if !ok {
			if !env {
				return nil, fmt.Errorf("invalid argument %q: KEY=VALUE expected", kv)
			}
			val, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = val
		}
		out[k] = &v
	}
	return out, nil
}

// readSecret reads one --secret value.
func readSecret(spec string) (string, []byte, error) {
	var id, src, env string
	for _, part := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "id":
			id = v
		case "src", "source":
			src = v
		case "env":
			env = v
		case "type":
			if v != "file" && v != "env" {
				return "", nil, fmt.Errorf("--secret %s: unknown type %q", spec, v)
			}
		default:
			return "", nil, fmt.Errorf("--secret %s: unknown key %q", spec, k)
		}
	}
	if id == "" {
		return "", nil, fmt.Errorf("--secret %s: id= is required", spec)
	}
	if src == "" && env == "" {
		if _, ok := os.LookupEnv(id); ok {
			env = id
		} else {
			src = id
		}
	}
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", nil, fmt.Errorf("--secret %s: environment variable %s is not set", spec, env)
		}
		return id, []byte(v), nil
	}
	fh, err := os.Open(src)
	if err != nil {
		return "", nil, fmt.Errorf("--secret %s: %w", spec, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxSecret+1))
	if err != nil {
		return "", nil, err
	}
	if len(data) > maxSecret {
		return "", nil, fmt.Errorf("--secret %s: larger than %d bytes", spec, maxSecret)
	}
	return id, data, nil
}

func runBuild(cmd *cobra.Command, ctxPath string, f buildFlags) error {
	req := wharf.BuildRequest{Tags: f.tags, Target: f.target, NoCache: f.noCache, Pull: f.pull, CacheFrom: f.cacheFrom, Network: f.network}
	var err error
	if req.BuildArgs, err = parseKV(f.buildArgs, true); err != nil {
		return err
	}
	labels, err := parseKV(f.labels, false)
	if err != nil {
		return err
	}
	if len(labels) > 0 {
		req.Labels = map[string]string{}
		for k, v := range labels {
			req.Labels[k] = *v
		}
	}
	for _, s := range f.secrets {
		id, data, err := readSecret(s)
		if err != nil {
			return err
		}
		if req.Secrets == nil {
			req.Secrets = map[string][]byte{}
		}
		req.Secrets[id] = data
	}
	stdin := cmd.InOrStdin()
	var body io.Reader
	// files is the manifest of a synced context (a directory).
	var files []contextFile
	// ctxErr says why sending the context failed, which is what the
	// user needs to know rather than the broken request it causes.
	ctxErr := make(chan error, 1)
	switch {
	case ctxPath == "-":
		if f.file == "-" {
			return errors.New("cannot read both the context and the Dockerfile from stdin")
		}
		// Stdin holds a tar context (possibly compressed) or a Dockerfile.
		br := bufio.NewReaderSize(stdin, 64<<10)
		head, _ := br.Peek(512)
		if isArchiveHead(head) {
			body = br
			req.Dockerfile = f.file
		} else {
			data, err := io.ReadAll(io.LimitReader(br, 4<<20))
			if err != nil {
				return err
			}
			req.DockerfileContent = data
			body = bytes.NewReader(emptyTar())
		}
	default:
		fi, err := os.Stat(ctxPath)
		if err != nil {
			return fmt.Errorf("unable to prepare context: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("unable to prepare context: %s is not a directory", ctxPath)
		}
		dfRel, dfContent, err := dockerfileFor(ctxPath, f.file, stdin)
		if err != nil {
			return err
		}
		req.Dockerfile, req.DockerfileContent = dfRel, dfContent
		name := dfRel
		if name == "" {
			name = "Dockerfile"
		}
		ignore, err := readIgnore(ctxPath, name)
		if err != nil {
			return err
		}
		if files, err = walkContext(ctxPath, ignore); err != nil {
			return err
		}
		abs, _ := filepath.Abs(ctxPath)
		host, _ := os.Hostname()
		sum := sha256.Sum256([]byte(host + "\x00" + abs))
		req.ContextKey = hex.EncodeToString(sum[:])
	}
	c, err := clientFor(cmd)
	if err != nil {
		return err
	}
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	needc := make(chan []int, 1)
	if req.ContextKey != "" {
		manifest := make([]wharf.ContextEntry, len(files))
		for i, f := range files {
			manifest[i] = f.entry
		}
		ml, err := json.Marshal(manifest)
		if err != nil {
			return err
		}
		// The daemon answers which files it lacks before the body ends;
		// only those are sent.
		pr, pw := io.Pipe()
		defer pr.Close()
		go func() {
			if _, err := pw.Write(append(append(line, '\n'), append(ml, '\n')...)); err != nil {
				return
			}
			need, ok := <-needc
			if !ok {
				pw.CloseWithError(errors.New("build ended"))
				return
			}
			err := writeNeeded(pw, files, need)
			ctxErr <- err
			pw.CloseWithError(err)
		}()
		body = pr
	} else {
		body = io.MultiReader(bytes.NewReader(append(line, '\n')), body)
	}
	rc, err := c.Stream(cmd.Context(), "POST", "/build", nil, body)
	if err != nil {
		close(needc)
		select {
		case cerr := <-ctxErr:
			if cerr != nil {
				return cerr
			}
		default:
		}
		return err
	}
	defer rc.Close()
	events := bufio.NewReader(rc)
	if req.ContextKey != "" {
		first, err := events.ReadBytes('\n')
		var need wharf.BuildNeed
		if err == nil {
			err = json.Unmarshal(first, &need)
		}
		if err != nil || need.Need == nil {
			close(needc)
			var e wharf.BuildEvent
			if json.Unmarshal(first, &e) == nil && e.Error != "" {
				return errors.New(e.Error)
			}
			return fmt.Errorf("the daemon did not answer the context manifest: %v", err)
		}
		needc <- need.Need
	}
	errOut := cmd.ErrOrStderr()
	mode := f.progress
	if f.quiet {
		mode = "quiet"
	}
	if mode == "auto" {
		mode = "plain"
		if isTerminal(errOut) {
			mode = "tty"
		}
	}
	r := newBuildRenderer(errOut, mode)
	res, err := r.run(events)
	if err != nil {
		return err
	}
	if f.iidfile != "" {
		if err := atomicfile.WriteFile(f.iidfile, []byte(res.ImageID), 0o644); err != nil {
			return err
		}
	}
	if f.quiet {
		fmt.Fprintln(cmd.OutOrStdout(), res.ImageID)
	}
	return nil
}

// dockerfileFor finds the Dockerfile: its path inside the context, or its
// content when it is elsewhere (or stdin with -f -).
func dockerfileFor(ctxPath, file string, stdin io.Reader) (string, []byte, error) {
	if file == "" {
		return "", nil, nil
	}
	if file == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, 4<<20))
		return "", data, err
	}
	absCtx, err := filepath.Abs(ctxPath)
	if err != nil {
		return "", nil, err
	}
	absFile := file
	if !filepath.IsAbs(file) {
		// docker resolves -f against the working directory.
		if absFile, err = filepath.Abs(file); err != nil {
			return "", nil, err
		}
	}
	if rel, err := filepath.Rel(absCtx, absFile); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel), nil, nil
	}
	data, err := os.ReadFile(absFile)
	if err != nil {
		return "", nil, fmt.Errorf("unable to read the Dockerfile: %w", err)
	}
	return filepath.Base(absFile), data, nil
}

// isArchiveHead reports whether the first bytes of a stream are a tar
// (at offset 257 "ustar") or a compressed stream.
func isArchiveHead(b []byte) bool {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}), bytes.HasPrefix(b, []byte("BZh")),
		bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}), bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return true
	}
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}

// newBuilderCommand groups `wharf builder prune`.
func newBuilderCommand() *cobra.Command {
	c := &cobra.Command{Use: "builder", Short: "Manage the build cache"}
	var all, force bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove the build cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var resp wharf.BuildPruneResponse
			if err := c.Do(cmd.Context(), "POST", "/build/prune", nil, nil, &resp); err != nil {
				return err
			}
			for _, d := range resp.Deleted {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted:", d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Total reclaimed space: %s\n", humanSize(int64(resp.SpaceReclaimed)))
			return nil
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "Remove all build cache (the only kind this daemon keeps)")
	prune.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	c.AddCommand(prune)
	return c
}
