package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
)

// maxComposeFile bounds a compose file the CLI reads (the daemon's own
// bound is the same).
const maxComposeFile = 1 << 20

// newStackCommand is `wharf stack`: compose files deployed as the
// cluster's ECS services, as `docker stack` deploys them on swarm. The
// daemon loads the files (with compose-go), so the CLI stays lean.
func newStackCommand() *cobra.Command {
	c := &cobra.Command{Use: "stack", Short: "Deploy compose files as the cluster's services"}
	c.AddCommand(newStackDeployCommand(), newStackLsCommand(), newStackRmCommand())
	return c
}

var envWordRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// stackRequest reads the compose files, the .env file beside the first
// and the environment variables the files name.
func stackRequest(files []string) (wharf.StackDeploy, error) {
	var req wharf.StackDeploy
	words := map[string]bool{}
	for i, f := range files {
		var data []byte
		var err error
		if f == "-" {
			data, err = io.ReadAll(io.LimitReader(os.Stdin, maxComposeFile+1))
		} else {
			var fh *os.File
			if fh, err = os.Open(f); err == nil {
				data, err = io.ReadAll(io.LimitReader(fh, maxComposeFile+1))
				fh.Close()
			}
		}
		if err != nil {
			return req, err
		}
		if len(data) > maxComposeFile {
			return req, fmt.Errorf("%s: larger than %d bytes", f, maxComposeFile)
		}
		abs := f
		if f != "-" {
			if abs, err = filepath.Abs(f); err != nil {
				return req, err
			}
		}
		if i == 0 {
			dir, _ := os.Getwd()
			if f != "-" {
				dir = filepath.Dir(abs)
			}
			req.WorkingDir = dir
			if env, err := os.ReadFile(filepath.Join(dir, ".env")); err == nil {
				req.DotEnv = env
			} else if !errors.Is(err, os.ErrNotExist) {
				return req, err
			}
		}
		req.Files = append(req.Files, wharf.StackFile{Filename: abs, Content: data})
		for _, w := range envWordRE.FindAll(data, -1) {
			words[string(w)] = true
		}
	}
	for _, w := range envWordRE.FindAll(req.DotEnv, -1) {
		words[string(w)] = true
	}
	for w := range words {
		if v, ok := os.LookupEnv(w); ok {
			if req.Env == nil {
				req.Env = map[string]string{}
			}
			req.Env[w] = v
		}
	}
	return req, nil
}

func newStackDeployCommand() *cobra.Command {
	var files []string
	var cluster string
	cmd := &cobra.Command{
		Use:   "deploy -c compose.yml [-c more.yml] STACK",
		Short: "Deploy a compose file: one ECS service <stack>_<service> per service; a redeploy rolls changed services and removes dropped ones",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files) == 0 {
				return fmt.Errorf("wharf stack deploy needs a compose file (-c compose.yml)")
			}
			req, err := stackRequest(files)
			if err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var res wharf.StackDeployResult
			if err := c.Do(cmd.Context(), "POST", "/cluster/stacks/"+url.PathEscape(args[0]), url.Values{"cluster": {cluster}}, req, &res); err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "Warning: "+w)
			}
			for _, ch := range res.Changes {
				line := strings.ToUpper(ch.Action[:1]) + ch.Action[1:] + " service " + ch.Service
				if ch.TaskDefinition != "" {
					line += " (" + ch.TaskDefinition + ")"
				}
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "compose-file", "c", nil, "Path to a compose file, or - for standard input (repeatable)")
	cmd.Flags().StringVar(&cluster, "cluster", "default", "The ECS cluster")
	return cmd
}

type stackRow struct{ Name, Services string }

func newStackLsCommand() *cobra.Command {
	var format, cluster string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List stacks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var ss []wharf.ClusterStack
			if err := c.Do(cmd.Context(), "GET", "/cluster/stacks", url.Values{"cluster": {cluster}}, nil, &ss); err != nil {
				return err
			}
			if format == "json" {
				return printJSONIndented(cmd.OutOrStdout(), ss)
			}
			rows := make([]any, 0, len(ss))
			for _, s := range ss {
				rows = append(rows, stackRow{Name: s.Name, Services: fmt.Sprint(len(s.Services))})
			}
			return renderFormatted(cmd.OutOrStdout(), format, "table {{.Name}}\t{{.Services}}",
				map[string]string{"Name": "NAME", "Services": "SERVICES"}, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template, or json")
	cmd.Flags().StringVar(&cluster, "cluster", "default", "The ECS cluster")
	return cmd
}

func newStackRmCommand() *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:     "rm STACK [STACK...]",
		Aliases: []string{"remove", "down"},
		Short:   "Remove stacks: their services are deleted and their tasks stop",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var failed error
			for _, name := range args {
				var out struct{ Removed []string }
				if err := c.Do(cmd.Context(), "DELETE", "/cluster/stacks/"+url.PathEscape(name), url.Values{"cluster": {cluster}}, nil, &out); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
					failed = exitError{code: 1}
					continue
				}
				for _, s := range out.Removed {
					fmt.Fprintln(cmd.OutOrStdout(), "Removing service "+s)
				}
			}
			return failed
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "default", "The ECS cluster")
	return cmd
}
