package config

import (
	"strings"
	"testing"
)

// A datafile listed by SDK key alone is fetched from the template, by
// default Optimizely's CDN; --sdk-key and STICKYBUCKET_SDK_KEYS list them
// too, and STICKYBUCKET_SDK_KEYS adds to STICKYBUCKET_DATAFILES.
func TestDatafilesBySDKKey(t *testing.T) {
	cfg, err := Parse([]byte("datafiles: [{sdk_key: K1}, {sdk_key: K2, poll_every: 30s}, {sdk_key: f, file: f.json}]\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Datafiles[0].DatafileURL(cfg.DatafileURLTemplate), "https://cdn.optimizely.com/datafiles/K1.json"; got != want {
		t.Errorf("K1 from %q, want %q", got, want)
	}
	if d := cfg.Datafiles[0]; d.PollEvery.Std().String() != "1m0s" {
		t.Errorf("K1 polled every %s, want Agent's client.pollingInterval, 1m", d.PollEvery.Std())
	}
	if d := cfg.Datafiles[1]; d.PollEvery.Std().String() != "30s" {
		t.Errorf("K2 polled every %s, want 30s", d.PollEvery.Std())
	}
	if got := cfg.Datafiles[2].DatafileURL(cfg.DatafileURLTemplate); got != "" {
		t.Errorf("a file's URL is %q, want none", got)
	}

	cfg, err = Parse([]byte("datafile_url_template: 'https://config.example.com/auth/%s.json'\ndatafiles: [{sdk_key: K1}]\n"), envMap(map[string]string{
		"STICKYBUCKET_DATAFILES": "f=f.json",
		"STICKYBUCKET_SDK_KEYS":  "K3, K4",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range cfg.Datafiles {
		got = append(got, d.SDKKey+" "+d.DatafileURL(cfg.DatafileURLTemplate))
	}
	if want := "f |K3 https://config.example.com/auth/K3.json|K4 https://config.example.com/auth/K4.json"; strings.Join(got, "|") != want {
		t.Errorf("datafiles %q, want %q", strings.Join(got, "|"), want)
	}

	cfg, err = Parse([]byte("datafiles: [{sdk_key: f, file: f.json}]\n"), envMap(map[string]string{
		"STICKYBUCKET_SDK_KEYS":              "K5",
		"STICKYBUCKET_DATAFILE_URL_TEMPLATE": "http://127.0.0.1:9/%s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Datafiles) != 1 || cfg.Datafiles[0].DatafileURL(cfg.DatafileURLTemplate) != "http://127.0.0.1:9/K5" {
		t.Errorf("STICKYBUCKET_SDK_KEYS alone: %+v; want it to replace the file's datafiles", cfg.Datafiles)
	}
	if _, err := Parse([]byte("datafiles: [{sdk_key: f, file: f.json, access_token: t}]\n"), noEnv); err == nil || !strings.Contains(err.Error(), "datafiles[0].access_token: set for a file") {
		t.Errorf("access_token on a file: %v", err)
	}
	if got := SDKKeySources([]string{"a", "b"}); len(got) != 2 || got[1].SDKKey != "b" || got[1].File != "" || got[1].URL != "" {
		t.Errorf("SDKKeySources: %+v", got)
	}
}

func TestWebhookConfig(t *testing.T) {
	doc := `datafiles: [{sdk_key: K1}, {sdk_key: K2, url: 'https://x.example/d.json'}, {sdk_key: F, file: f.json}]
webhook:
  listen: 127.0.0.1:8089
  projects:
    "10000": {sdk_keys: [K1, K2], secret: s3cret}
    "20000": {sdk_keys: [K2], skip_signature_check: true}
`
	cfg, err := Parse([]byte(doc), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Webhook; w.Listen != "127.0.0.1:8089" || w.MaxBodyBytes != 64<<10 || len(w.Projects) != 2 || w.Projects["10000"].Secret != "s3cret" {
		t.Errorf("webhook %+v", w)
	}
	if id, err := ProjectID("10000"); id != 10000 || err != nil {
		t.Errorf("ProjectID(10000) = %d, %v", id, err)
	}
	if cfg, err := Parse(nil, noEnv); err != nil || cfg.Webhook.Listen != WebhookOff {
		t.Errorf("webhook.listen by default: %q, %v; want off", cfg.Webhook.Listen, err)
	}
	if cfg, err := Parse([]byte(doc), envMap(map[string]string{"STICKYBUCKET_WEBHOOK_LISTEN": "off"})); err != nil || cfg.Webhook.Listen != WebhookOff {
		t.Errorf("STICKYBUCKET_WEBHOOK_LISTEN=off: %q, %v", cfg.Webhook.Listen, err)
	}

	base := "datafiles: [{sdk_key: K1}, {sdk_key: F, file: f.json}]\n"
	for _, tt := range []struct{ doc, want string }{
		{"datafile_url_template: https://cdn.example.com/datafiles.json", `datafile_url_template: "https://cdn.example.com/datafiles.json" must hold one %s`},
		{"datafile_url_template: 'https://cdn.example.com/%s/%s.json'", `must hold one %s, where the SDK key goes, and no other %`},
		{"datafile_url_template: 'https://cdn.example.com/a%20b/%s.json'", `and no other %`},
		{"datafile_url_template: 'ftp://cdn.example.com/%s.json'", `is not an http(s) URL`},
		{"webhook: {listen: nowhere, projects: {'1': {sdk_keys: [K1], secret: s}}}", `webhook.listen: "nowhere" is not host:port (or "off")`},
		{"webhook: {listen: '127.0.0.1:0'}", "webhook.projects: none"},
		{"webhook: {projects: {abc: {sdk_keys: [K1], secret: s}}}", `webhook.projects["abc"]: "abc" is not an Optimizely project ID`},
		{"webhook: {projects: {'-3': {sdk_keys: [K1], secret: s}}}", `is not an Optimizely project ID`},
		{"webhook: {projects: {'1': {secret: s}}}", `webhook.projects["1"].sdk_keys: none`},
		{"webhook: {projects: {'1': {sdk_keys: [K9], secret: s}}}", `webhook.projects["1"].sdk_keys[0]: "K9" is not listed under datafiles`},
		{"webhook: {projects: {'1': {sdk_keys: [F], secret: s}}}", `webhook.projects["1"].sdk_keys[0]: "F" is the file f.json`},
		{"webhook: {projects: {'1': {sdk_keys: [K1]}}}", `webhook.projects["1"].secret: empty`},
		{"webhook: {max_body_bytes: 10}", "webhook.max_body_bytes: 10 is outside 1024…1048576"},
	} {
		_, err := Parse([]byte(base+tt.doc+"\n"), noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.doc, err, tt.want)
		}
	}
}
