package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
)

// inspected is one object found by inspect: its raw JSON, kept verbatim so
// that fields this CLI does not know still print, and its kind.
type inspected struct {
	raw   json.RawMessage
	image bool
}

// newInspectCommand is `wharf inspect`.
func newInspectCommand() *cobra.Command {
	var format, typ string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on containers or images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Parent() != nil && cmd.Parent().Name() != "wharf" && typ == "" {
				// `container inspect` / `image inspect`
				typ = cmd.Parent().Name()
			}
			switch typ {
			case "", "container", "image":
			default:
				return fmt.Errorf("%q is not a valid value for --type", typ)
			}
			var tmpl *template.Template
			if format != "" {
				t, err := parseTemplate(format)
				if err != nil {
					return err
				}
				tmpl = t
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			var found []inspected
			failed := false
			for _, name := range args {
				obj, err := inspectObject(cmd, c, name, typ)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "wharf: "+err.Error())
					failed = true
					continue
				}
				found = append(found, obj)
			}
			out := cmd.OutOrStdout()
			if tmpl == nil {
				list := make([]json.RawMessage, len(found))
				for i, f := range found {
					list[i] = f.raw
				}
				if err := printJSONIndented(out, list); err != nil {
					return err
				}
			} else {
				for _, f := range found {
					if err := executeInspectTemplate(out, tmpl, f); err != nil {
						return err
					}
				}
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	cmd.Flags().StringVar(&typ, "type", "", "Return JSON for specified type (container|image)")
	return cmd
}

// inspectObject looks name up as a container, then as an image, as docker
// does when --type is not given.
func inspectObject(cmd *cobra.Command, c *wharf.Client, name, typ string) (inspected, error) {
	ctx := cmd.Context()
	if typ != "image" {
		var raw json.RawMessage
		err := c.Do(ctx, "GET", containerPath(name, "json"), nil, nil, &raw)
		if err == nil {
			return inspected{raw: raw}, nil
		}
		if !errdefs.IsNotFound(err) {
			return inspected{}, err
		}
		if typ == "container" {
			return inspected{}, fmt.Errorf("No such container: %s", name)
		}
	}
	var raw json.RawMessage
	err := c.Do(ctx, "GET", "/images/inspect", url.Values{"ref": {name}}, nil, &raw)
	if err == nil {
		return inspected{raw: raw, image: true}, nil
	}
	if !errdefs.IsNotFound(err) {
		return inspected{}, err
	}
	if typ == "image" {
		return inspected{}, fmt.Errorf("No such image: %s", name)
	}
	return inspected{}, fmt.Errorf("No such object: %s", name)
}

// executeInspectTemplate runs a --format template on one object. It runs
// on the typed record first (so numbers compare as numbers and nil
// pointers behave), then, like docker, on the generic JSON map when the
// template names a field the typed record lacks.
func executeInspectTemplate(w io.Writer, tmpl *template.Template, obj inspected) error {
	var typed any = &wharf.ContainerJSON{}
	if obj.image {
		typed = &wharf.ImageInspect{}
	}
	var buf bytes.Buffer
	if json.Unmarshal(obj.raw, typed) == nil && tmpl.Execute(&buf, typed) == nil {
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	var generic map[string]any
	dec := json.NewDecoder(bytes.NewReader(obj.raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	buf.Reset()
	if err := tmpl.Execute(&buf, generic); err != nil {
		return fmt.Errorf("template: %v", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
