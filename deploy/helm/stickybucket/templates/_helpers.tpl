{{/* The chart's name, cut to 63 characters (a DNS label). */}}
{{- define "stickybucket.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's objects' name: release-chart, or fullnameOverride. */}}
{{- define "stickybucket.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "stickybucket.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stickybucket.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stickybucket.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "stickybucket.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "stickybucket.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stickybucket.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with tokens and credentials: the chart's or an existing one. */}}
{{- define "stickybucket.secretName" -}}
{{- default (include "stickybucket.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "stickybucket.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the pod mounts its files. */}}
{{- define "stickybucket.configDir" -}}/etc/stickybucket{{- end }}
{{- define "stickybucket.datafileDir" -}}/var/lib/stickybucket/datafiles{{- end }}
{{- define "stickybucket.tlsDir" -}}/etc/stickybucket-tls{{- end }}

{{/* allowUnauthenticated: the configuration lets the listeners go without tokens. */}}
{{- define "stickybucket.allowUnauthenticated" -}}
{{- if dig "server" "allow_unauthenticated" false .Values.config }}true{{- end }}
{{- end }}

{{/* apiJWT, adminJWT: JWTs are configured on the API, on the admin
listener (signing secrets or an issuer's JWKS URL). */}}
{{- define "stickybucket.apiJWT" -}}
{{- if or .Values.secret.authHmacSecrets (dig "server" "auth" "jwks_url" "" .Values.config) }}true{{- end }}
{{- end }}
{{- define "stickybucket.adminJWT" -}}
{{- if or .Values.secret.adminAuthHmacSecrets (dig "server" "admin_auth" "jwks_url" "" .Values.config) }}true{{- end }}
{{- end }}

{{/* The SDK keys of the datafiles kept in files, sorted. */}}
{{- define "stickybucket.datafileKeys" -}}
{{- $keys := list }}
{{- if .Values.datafiles.existingConfigMap }}
{{- $keys = .Values.datafiles.existingConfigMapKeys }}
{{- else }}
{{- $keys = keys .Values.datafiles.inline }}
{{- end }}
{{- range $k := $keys }}
{{- if not (regexMatch "^[-._a-zA-Z0-9]+$" $k) }}
{{- fail (printf "datafiles: SDK key %q cannot name a file in a ConfigMap (letters, digits, '.', '_', '-')" $k) }}
{{- end }}
{{- end }}
{{- $keys | sortAlpha | join "," }}
{{- end }}

{{/*
The configuration file: .Values.config with the listeners, TLS files and
datafiles the chart decides. Fails when tokens or datafiles are missing.
*/}}
{{- define "stickybucket.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $server := dig "server" dict $cfg }}
{{- $_ := set $server "listen" (printf ":%d" (int .Values.service.port)) }}
{{- $_ := set $server "admin_listen" (printf ":%d" (int .Values.service.adminPort)) }}
{{- if .Values.tls.secretName }}
{{- $_ := set $server "tls" (dict "cert_file" (printf "%s/tls.crt" (include "stickybucket.tlsDir" .)) "key_file" (printf "%s/tls.key" (include "stickybucket.tlsDir" .))) }}
{{- end }}
{{- $_ := set $cfg "server" $server }}
{{- $datafiles := list }}
{{- $dir := include "stickybucket.datafileDir" . }}
{{- range $k := splitList "," (include "stickybucket.datafileKeys" .) }}
{{- if $k }}
{{- $datafiles = append $datafiles (dict "sdk_key" $k "file" (printf "%s/%s.json" $dir $k)) }}
{{- end }}
{{- end }}
{{- range .Values.datafiles.urls }}
{{- $datafiles = append $datafiles . }}
{{- end }}
{{- if not $datafiles }}
{{- fail "datafiles: give at least one datafile (datafiles.inline, datafiles.urls or datafiles.existingConfigMap)" }}
{{- end }}
{{- $_ := set $cfg "datafiles" $datafiles }}
{{- $api := or .Values.secret.apiTokens (include "stickybucket.apiJWT" .) }}
{{- $admin := or .Values.secret.adminTokens (include "stickybucket.adminJWT" .) }}
{{- if and (not .Values.secret.existingSecret) (not (include "stickybucket.allowUnauthenticated" .)) (or (not $api) (not $admin)) }}
{{- fail "secret: the listeners are reachable from the cluster, so set secret.apiTokens and secret.adminTokens (or secret.existingSecret), or JWTs on each listener (secret.authHmacSecrets or config.server.auth.jwks_url; secret.adminAuthHmacSecrets or config.server.admin_auth.jwks_url), or config.server.allow_unauthenticated" }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The probes' scheme: HTTPS when the listeners serve TLS. */}}
{{- define "stickybucket.probeScheme" -}}
{{- if .Values.tls.secretName }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}
