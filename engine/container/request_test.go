package container

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/network"
	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
)

func ptr[T any](v T) *T { return &v }

// The create request translation both API servers share: each case is a
// request as a server copies it from its wire type and the options Create
// gets, or the error the client gets.
func TestCreateRequestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  CreateRequest
		want CreateOptions
	}{
		{
			name: "no host config",
			req:  CreateRequest{Name: "web", Config: Config{Image: "busybox", Cmd: []string{"true"}}},
			want: CreateOptions{Name: "web", Config: Config{Image: "busybox", Cmd: []string{"true"}}},
		},
		{
			// An empty, non-nil entrypoint resets the image's; nil keeps it.
			name: "empty entrypoint",
			req:  CreateRequest{Config: Config{Image: "busybox", Entrypoint: []string{}}},
			want: CreateOptions{Config: Config{Image: "busybox", Entrypoint: []string{}, EntrypointSet: true}},
		},
		{
			name: "scalars, pointers and policies",
			req: CreateRequest{Config: Config{Image: "busybox"}, HostConfig: &HostConfigRequest{
				NetworkMode: "default", RestartPolicy: RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
				CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"},
				Init: ptr(true), PidsLimit: ptr(int64(64)), Memory: 64 << 20, MemorySwap: -1, NanoCPUs: 5e8, CPUShares: 512,
				Ulimits: []Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}, VolumesFrom: []string{"other:ro"},
				LogConfig: LogConfig{Type: "local", Config: map[string]string{"max-size": "1m"}},
			}},
			want: CreateOptions{Config: Config{Image: "busybox"}, HostConfig: HostConfig{
				RestartPolicy: RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
				CapAdd:        []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"},
				Init: true, PidsLimit: 64, Memory: 64 << 20, MemorySwap: -1, NanoCPUs: 5e8, CPUShares: 512,
				Ulimits: []Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}, VolumesFrom: []string{"other:ro"},
				LogConfig: LogConfig{Type: "local", Config: map[string]string{"max-size": "1m"}},
			}},
		},
		{
			// Keys in order; an empty list is one random port (dockerd
			// before API 1.53), 0.0.0.0 is every address, a range on
			// the host side is a pick.
			name: "ports",
			req: CreateRequest{HostConfig: &HostConfigRequest{PortBindings: map[string][]PortBindingRequest{
				"80/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}, {HostIP: "0.0.0.0", HostPort: "8081"}},
				"53/udp": {},
				"22/tcp": {{HostIP: "::1", HostPort: "2200-2210"}},
				"9000":   nil,
			}, PublishAllPorts: true}},
			want: CreateOptions{HostConfig: HostConfig{PortBindings: []network.PortBinding{
				{Proto: "tcp", ContainerPort: 22, HostIP: netip.MustParseAddr("::1"), HostPort: 2200, HostPortEnd: 2210},
				{Proto: "udp", ContainerPort: 53},
				{Proto: "tcp", ContainerPort: 80, HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080},
				{Proto: "tcp", ContainerPort: 80, HostPort: 8081},
				{Proto: "tcp", ContainerPort: 9000},
			}, PublishAllPorts: true}},
		},
		{
			// -v first, then --mount, then --tmpfs by target.
			name: "mounts",
			req: CreateRequest{HostConfig: &HostConfigRequest{
				Binds: []string{"vol:/data:ro", "/anon", "/host/dir:/h:rslave"},
				Mounts: []volume.Mount{
					{Type: "bind", Source: "/src/", Target: "/c/", ReadOnly: true, CreateSource: true},
					{Type: "volume", Target: "/v", NoCopy: true},
					{Type: "tmpfs", Target: "/t", TmpfsSize: 4096, TmpfsMode: 0o1777},
				},
				Tmpfs: map[string]string{"/run": "size=1m", "/a": ""},
			}},
			want: CreateOptions{HostConfig: HostConfig{Mounts: []volume.Mount{
				{Type: "volume", Source: "vol", Target: "/data", ReadOnly: true, Mode: "ro"},
				{Type: "volume", Target: "/anon"},
				{Type: "bind", Source: "/host/dir", Target: "/h", CreateSource: true, Propagation: "rslave", Mode: "rslave"},
				{Type: "bind", Source: "/src", Target: "/c", ReadOnly: true, CreateSource: true},
				{Type: "volume", Target: "/v", NoCopy: true},
				{Type: "tmpfs", Target: "/t", TmpfsSize: 4096, TmpfsMode: 0o1777},
				{Type: "tmpfs", Target: "/a"},
				{Type: "tmpfs", Target: "/run", TmpfsSize: 1 << 20},
			}, Tmpfs: map[string]string{"/run": "size=1m", "/a": ""}}},
		},
		{
			// "default" is the default network's endpoint, as dockerd
			// moves it.
			name: "default endpoint",
			req: CreateRequest{Endpoints: map[string]*EndpointOptions{
				"default": {IPv4Address: "10.1.2.3", Aliases: []string{"a"}},
			}},
			want: CreateOptions{Endpoints: map[string]EndpointOptions{"bridge": {IPv4Address: "10.1.2.3", Aliases: []string{"a"}}}},
		},
		{
			// With another network mode "default" is a network's name.
			name: "endpoints on a user network",
			req: CreateRequest{HostConfig: &HostConfigRequest{NetworkMode: "front"}, Endpoints: map[string]*EndpointOptions{
				"front": {Aliases: []string{"web"}}, "default": {},
			}},
			want: CreateOptions{HostConfig: HostConfig{NetworkMode: "front"}, Endpoints: map[string]EndpointOptions{
				"front": {Aliases: []string{"web"}}, "default": {},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.req.Options()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCreateRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  CreateRequest
		msg  string
	}{
		{"protocol", CreateRequest{HostConfig: &HostConfigRequest{PortBindings: map[string][]PortBindingRequest{"80/sctp": nil}}}, "protocol must be tcp or udp"},
		{"host port", CreateRequest{HostConfig: &HostConfigRequest{PortBindings: map[string][]PortBindingRequest{"80/tcp": {{HostPort: "http"}}}}}, "invalid host port"},
		{"host port range", CreateRequest{HostConfig: &HostConfigRequest{PortBindings: map[string][]PortBindingRequest{"80/tcp": {{HostPort: "90-80"}}}}}, "invalid host port"},
		{"host address", CreateRequest{HostConfig: &HostConfigRequest{PortBindings: map[string][]PortBindingRequest{"80/tcp": {{HostIP: "localhost"}}}}}, "invalid host address"},
		{"relative bind", CreateRequest{HostConfig: &HostConfigRequest{Binds: []string{"./rel:/x"}}}, "includes invalid characters"},
		{"relative --mount bind", CreateRequest{HostConfig: &HostConfigRequest{Mounts: []volume.Mount{{Type: "bind", Source: "rel", Target: "/x"}}}},
			`invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{"mount type", CreateRequest{HostConfig: &HostConfigRequest{Mounts: []volume.Mount{{Type: "npipe", Target: "/x"}}}},
			`invalid mount config for type "npipe": mount type unknown`},
		{"tmpfs mode", CreateRequest{HostConfig: &HostConfigRequest{Mounts: []volume.Mount{{Type: "tmpfs", Target: "/x", TmpfsMode: 0o20000}}}}, "bad size or mode"},
		{"tmpfs option", CreateRequest{HostConfig: &HostConfigRequest{Tmpfs: map[string]string{"/t": "size=ten"}}}, "tmpfs"},
		{"nil endpoint", CreateRequest{Endpoints: map[string]*EndpointOptions{"front": nil}}, "invalid config for network front: EndpointsConfig is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.req.Options()
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want ErrInvalidArgument with %q", err, tc.msg)
			}
		})
	}
}
