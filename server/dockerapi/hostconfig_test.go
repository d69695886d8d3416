package dockerapi

import (
	"net/netip"
	"reflect"
	"testing"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/errdefs"
)

// How the Docker API treats each field of a create request: applied (the
// translation carries it to the engine, which applies it and shows it),
// refused (400), or the client's (a documented exception).
const (
	applied = "applied"
	refused = "refused"
)

// clientFields are carried by no create: they belong to the client's
// attach or terminal, as on dockerd.
var clientFields = map[string]string{
	"Config.AttachStdin":     "the attach request names the streams",
	"Config.AttachStdout":    "the attach request names the streams",
	"Config.AttachStderr":    "the attach request names the streams",
	"HostConfig.ConsoleSize": "the client resizes the terminal once the container runs",
}

var fieldTable = map[string]string{
	"Config.Hostname": applied, "Config.Domainname": refused, "Config.User": applied, "Config.ExposedPorts": applied,
	"Config.Tty": applied, "Config.OpenStdin": applied, "Config.StdinOnce": applied, "Config.Env": applied,
	"Config.Cmd": applied, "Config.Healthcheck": applied, "Config.ArgsEscaped": refused, "Config.Image": applied,
	"Config.Volumes": applied, "Config.WorkingDir": applied, "Config.Entrypoint": applied, "Config.NetworkDisabled": refused,
	"Config.OnBuild": refused, "Config.Labels": applied, "Config.StopSignal": applied, "Config.StopTimeout": applied,
	"Config.Shell": applied,

	"HostConfig.Binds": applied, "HostConfig.ContainerIDFile": applied, "HostConfig.LogConfig": applied,
	"HostConfig.NetworkMode": applied, "HostConfig.PortBindings": applied, "HostConfig.RestartPolicy": applied,
	"HostConfig.AutoRemove": applied, "HostConfig.VolumeDriver": applied, "HostConfig.VolumesFrom": applied,
	"HostConfig.Annotations": applied, "HostConfig.CapAdd": applied, "HostConfig.CapDrop": applied,
	"HostConfig.CgroupnsMode": applied, "HostConfig.DNS": applied, "HostConfig.DNSOptions": applied,
	"HostConfig.DNSSearch": applied, "HostConfig.ExtraHosts": applied, "HostConfig.GroupAdd": applied,
	"HostConfig.IpcMode": applied, "HostConfig.Cgroup": refused, "HostConfig.Links": applied,
	"HostConfig.OomScoreAdj": applied, "HostConfig.PidMode": applied, "HostConfig.Privileged": applied,
	"HostConfig.PublishAllPorts": applied, "HostConfig.ReadonlyRootfs": applied, "HostConfig.SecurityOpt": applied,
	"HostConfig.StorageOpt": refused, "HostConfig.Tmpfs": applied, "HostConfig.UTSMode": applied,
	"HostConfig.UsernsMode": applied, "HostConfig.ShmSize": applied, "HostConfig.Sysctls": applied,
	"HostConfig.Runtime": applied, "HostConfig.Umask": refused, "HostConfig.Isolation": applied,
	"HostConfig.Mounts": applied, "HostConfig.MaskedPaths": refused, "HostConfig.ReadonlyPaths": refused,
	"HostConfig.Init": applied,

	"Resources.CPUShares": applied, "Resources.Memory": applied, "Resources.NanoCPUs": applied,
	"Resources.CgroupParent": refused, "Resources.BlkioWeight": applied, "Resources.BlkioWeightDevice": refused,
	"Resources.BlkioDeviceReadBps": refused, "Resources.BlkioDeviceWriteBps": refused,
	"Resources.BlkioDeviceReadIOps": refused, "Resources.BlkioDeviceWriteIOps": refused,
	"Resources.CPUPeriod": applied, "Resources.CPUQuota": applied, "Resources.CPURealtimePeriod": refused,
	"Resources.CPURealtimeRuntime": refused, "Resources.CpusetCpus": applied, "Resources.CpusetMems": applied,
	"Resources.Devices": refused, "Resources.DeviceCgroupRules": applied, "Resources.DeviceRequests": refused,
	"Resources.MemoryReservation": applied, "Resources.MemorySwap": applied, "Resources.MemorySwappiness": refused,
	"Resources.OomKillDisable": refused, "Resources.PidsLimit": applied, "Resources.Ulimits": applied,
	"Resources.CPUCount": refused, "Resources.CPUPercent": refused, "Resources.IOMaximumIOps": refused,
	"Resources.IOMaximumBandwidth": refused,
}

// sample is a value of t that asks for something: non-zero all the way
// down.
func sample(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if t == reflect.TypeOf(netip.Addr{}) {
		return reflect.ValueOf(netip.MustParseAddr("192.0.2.1"))
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Slice:
		v = reflect.Append(reflect.MakeSlice(t, 0, 1), sample(t.Elem(), depth+1))
	case reflect.Array:
		for i := 0; i < t.Len(); i++ {
			v.Index(i).Set(sample(t.Elem(), depth+1))
		}
	case reflect.Map:
		v = reflect.MakeMap(t)
		v.SetMapIndex(sample(t.Key(), depth+1), sample(t.Elem(), depth+1))
	case reflect.Pointer:
		v = reflect.New(t.Elem())
		v.Elem().Set(sample(t.Elem(), depth+1))
	case reflect.Struct:
		if depth < 4 {
			for i := 0; i < t.NumField(); i++ {
				if t.Field(i).IsExported() {
					v.Field(i).Set(sample(t.Field(i).Type, depth+1))
				}
			}
		}
	}
	return v
}

// Every field of Docker's container Config and HostConfig is applied,
// refused with 400, or named as the client's: a field that the
// translation neither carries nor refuses (silently dropped) fails this
// test, as does a new field of a newer API module until it is decided.
func TestCreateFieldsAppliedOrRefused(t *testing.T) {
	base := createRequest("n", &mcontainer.CreateRequest{Config: &mcontainer.Config{}, HostConfig: &mcontainer.HostConfig{}})
	check := func(name string, req *mcontainer.CreateRequest) {
		t.Helper()
		if _, ok := clientFields[name]; ok {
			return
		}
		err := refuseUnsupported(req.Config, req.HostConfig)
		switch fieldTable[name] {
		case applied:
			if err != nil {
				t.Errorf("%s: applied, but refused: %v", name, err)
			}
			if reflect.DeepEqual(createRequest("n", req), base) {
				t.Errorf("%s: accepted, but the translation drops it", name)
			}
		case refused:
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("%s: neither applied nor refused (%v)", name, err)
			}
		default:
			t.Errorf("%s: not in the table: decide whether it is applied or refused", name)
		}
	}
	ct := reflect.TypeOf(mcontainer.Config{})
	for i := 0; i < ct.NumField(); i++ {
		req := &mcontainer.CreateRequest{Config: &mcontainer.Config{}, HostConfig: &mcontainer.HostConfig{}}
		reflect.ValueOf(req.Config).Elem().Field(i).Set(sample(ct.Field(i).Type, 0))
		check("Config."+ct.Field(i).Name, req)
	}
	ht := reflect.TypeOf(mcontainer.HostConfig{})
	for i := 0; i < ht.NumField(); i++ {
		f := ht.Field(i)
		if f.Anonymous {
			rt := f.Type
			for j := 0; j < rt.NumField(); j++ {
				req := &mcontainer.CreateRequest{Config: &mcontainer.Config{}, HostConfig: &mcontainer.HostConfig{}}
				reflect.ValueOf(req.HostConfig).Elem().Field(i).Field(j).Set(sample(rt.Field(j).Type, 0))
				check(rt.Name()+"."+rt.Field(j).Name, req)
			}
			continue
		}
		req := &mcontainer.CreateRequest{Config: &mcontainer.Config{}, HostConfig: &mcontainer.HostConfig{}}
		reflect.ValueOf(req.HostConfig).Elem().Field(i).Set(sample(f.Type, 0))
		check("HostConfig."+f.Name, req)
	}
	// What asks for nothing passes: an empty request, and the values
	// clients send for "unset".
	off, minus := false, int64(-1)
	h := &mcontainer.HostConfig{Resources: mcontainer.Resources{OomKillDisable: &off, MemorySwappiness: &minus}}
	if err := refuseUnsupported(&mcontainer.Config{}, h); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}
