package store

import "testing"

// FuzzParseConfig checks that hostile image configs never panic the parser
// and that whatever it accepts has well-formed diffIDs. Seeds live in
// testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]},"config":{"Cmd":["sh"]}}`))
	f.Add([]byte(`{"rootfs":{"type":"layers","diff_ids":["sha256:../../x"]}}`))
	f.Add([]byte(`{"history":[{"created":"2024-01-01T00:00:00Z","empty_layer":true}],"created":"bogus"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := ParseConfig(raw)
		if err != nil {
			return
		}
		for _, d := range cfg.RootFS.DiffIDs {
			if len(d.Hex) != 64 || d.Algorithm != "sha256" {
				t.Fatalf("accepted diffID %v", d)
			}
		}
	})
}
