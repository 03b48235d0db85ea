package config

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
)

// Webhook configures the listener for Optimizely's datafile webhook, as
// Agent's webhook section does: a POST saying a project's datafile
// changed makes the service fetch that project's datafiles at once.
type Webhook struct {
	// Listen is the webhook listener's host:port; default "off" (no
	// listener). Agent listens on port 8085 (8089 in its config.yaml).
	Listen string `yaml:"listen"`
	// MaxBodyBytes bounds a webhook's body; default 64 KiB (Optimizely's
	// are a few hundred bytes).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Projects maps an Optimizely project ID to the SDK keys of its
	// environments served here and the secret its webhooks are signed
	// with.
	Projects map[string]WebhookProject `yaml:"projects"`
}

// WebhookProject is one project's webhook.
type WebhookProject struct {
	// SDKKeys are the datafiles refreshed when the project's webhook
	// arrives; each must be listed under datafiles, fetched from a URL or
	// by SDK key (a file is read again when it changes).
	SDKKeys []string `yaml:"sdk_keys"`
	// Secret is the webhook's secret in Optimizely's settings: the body
	// must come signed with it (HMAC-SHA1 in X-Hub-Signature).
	Secret string `yaml:"secret"`
	// SkipSignatureCheck accepts unsigned webhooks (not for production).
	SkipSignatureCheck bool `yaml:"skip_signature_check"`
}

// WebhookOff as webhook.listen serves no webhook listener.
const WebhookOff = "off"

// defaultWebhookMaxBody bounds a webhook's body when max_body_bytes is
// left out.
const defaultWebhookMaxBody = 64 << 10

func (w *Webhook) defaults() {
	if w.Listen == "" {
		w.Listen = WebhookOff
	}
	if w.MaxBodyBytes == 0 {
		w.MaxBodyBytes = defaultWebhookMaxBody
	}
}

// ProjectID returns the project ID a key of Projects names.
func ProjectID(key string) (int64, error) {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not an Optimizely project ID (a positive integer)", clipValue(key))
	}
	return id, nil
}

func (w Webhook) validate(datafiles []DatafileSource, p *problems) {
	if w.Listen != WebhookOff {
		if _, _, err := net.SplitHostPort(w.Listen); err != nil {
			p.add("webhook.listen", "%q is not host:port (or %q)", w.Listen, WebhookOff)
		}
		if len(w.Projects) == 0 {
			p.add("webhook.projects", "none: a webhook listener with no project would refresh nothing")
		}
	}
	if w.MaxBodyBytes < 1024 || w.MaxBodyBytes > 1<<20 {
		p.add("webhook.max_body_bytes", "%d is outside 1024…%d", w.MaxBodyBytes, 1<<20)
	}
	sources := map[string]DatafileSource{}
	for _, d := range datafiles {
		sources[d.SDKKey] = d
	}
	for _, key := range slices.Sorted(maps.Keys(w.Projects)) {
		proj := w.Projects[key]
		path := mapKey("webhook.projects", key, nil)
		if _, err := ProjectID(key); err != nil {
			p.add(path, "%v", err) // and nothing more of an entry that is not a project
			continue
		}
		if len(proj.SDKKeys) == 0 {
			p.add(path+".sdk_keys", "none: list the SDK keys of the project's datafiles")
		}
		for i, k := range proj.SDKKeys {
			d, ok := sources[k]
			switch {
			case !ok:
				p.add(fmt.Sprintf("%s.sdk_keys[%d]", path, i), "%q is not listed under datafiles", clipValue(k))
			case d.File != "":
				p.add(fmt.Sprintf("%s.sdk_keys[%d]", path, i), "%q is the file %s, read again when it changes: a webhook cannot refresh it", k, d.File)
			}
		}
		if proj.Secret == "" && !proj.SkipSignatureCheck {
			p.add(path+".secret", "empty: set the webhook's secret, or skip_signature_check: true (not for production)")
		}
	}
}
