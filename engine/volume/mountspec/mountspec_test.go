package mountspec

import (
	"reflect"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestParseVolumeSpec(t *testing.T) {
	for in, want := range map[string]Mount{
		"/data":                {Type: TypeVolume, Target: "/data"},
		"pgdata:/data":         {Type: TypeVolume, Source: "pgdata", Target: "/data"},
		"pgdata:/data:ro":      {Type: TypeVolume, Source: "pgdata", Target: "/data", ReadOnly: true, Mode: "ro"},
		"pgdata:/data:nocopy":  {Type: TypeVolume, Source: "pgdata", Target: "/data", NoCopy: true, Mode: "nocopy"},
		"/srv/x/:/backup":      {Type: TypeBind, Source: "/srv/x", Target: "/backup", CreateSource: true},
		"/srv:/b:ro,rshared,z": {Type: TypeBind, Source: "/srv", Target: "/b", ReadOnly: true, CreateSource: true, Propagation: "rshared", Mode: "ro,rshared,z"},
	} {
		got, err := ParseVolumeSpec(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "rel", "a:b", "/x:/", ":/x", "a b:/x", "v:/x:bogus", "/a:/b:nocopy", "v:/x:shared", "a:b:c:d"} {
		if _, err := ParseVolumeSpec(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want invalid argument", bad, err)
		}
	}
}

func TestParseMountSpec(t *testing.T) {
	for in, want := range map[string]Mount{
		"type=bind,source=/h,target=/c,readonly":  {Type: TypeBind, Source: "/h", Target: "/c", ReadOnly: true},
		"type=volume,src=v1,dst=/d,volume-nocopy": {Type: TypeVolume, Source: "v1", Target: "/d", NoCopy: true},
		"target=/anon": {Type: TypeVolume, Target: "/anon"},
		"type=tmpfs,target=/t,tmpfs-size=1m,ro=false": {Type: TypeTmpfs, Target: "/t", TmpfsSize: 1 << 20},
		"type=tmpfs,destination=/t,tmpfs-mode=1770":   {Type: TypeTmpfs, Target: "/t", TmpfsMode: 0o1770},
	} {
		got, err := ParseMountSpec(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "type=bind,target=/c", "type=bind,source=rel,target=/c", "type=nfs,target=/x", "type=tmpfs,source=x,target=/t",
		"type=volume,source=/abs,target=/x", "target=rel", "bogus=1,target=/x", "type=tmpfs,target=/t,tmpfs-size=-1", "readonly=maybe,target=/x", "\"unterminated"} {
		if _, err := ParseMountSpec(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want invalid argument", bad, err)
		}
	}
}

func TestParseTmpfs(t *testing.T) {
	got, err := ParseTmpfs("/run:size=64m,mode=1777,noexec,uid=1000")
	want := Mount{Type: TypeTmpfs, Target: "/run", TmpfsSize: 64 << 20, TmpfsMode: 0o1777, TmpfsOptions: []string{"noexec", "uid=1000"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v", got, err)
	}
	for _, bad := range []string{"", "run", "/run:size=x", "/run:mode=99", "/run:evil=1", "/:size=1m"} {
		if _, err := ParseTmpfs(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseMountSpec(f *testing.F) {
	for _, s := range []string{"type=bind,source=/h,target=/c,readonly", "type=tmpfs,target=/t,tmpfs-size=1m", "target=/x", `"a,b"=c`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (Mount, error){ParseMountSpec, ParseVolumeSpec, ParseTmpfs} {
			m, err := parse(s)
			if err != nil {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("%q: error of the wrong class: %v", s, err)
				}
				continue
			}
			if m.Target == "" || m.Target[0] != '/' || m.Target == "/" {
				t.Fatalf("%q: bad target %q", s, m.Target)
			}
			if m.Type == TypeBind && (m.Source == "" || m.Source[0] != '/') {
				t.Fatalf("%q: bad bind source %q", s, m.Source)
			}
			if m.Type == TypeVolume && m.Source != "" && !ValidName(m.Source) {
				t.Fatalf("%q: bad volume name %q", s, m.Source)
			}
		}
	})
}
