{{/* The chart's name, or nameOverride. */}}
{{- define "jan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name: fullnameOverride, else the release name (when it
already contains the chart's name), else release-chart. 57 characters at
most, so that "-vllm" and "-database" still fit the 63 of a DNS label.
*/}}
{{- define "jan.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 57 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "jan.vllmName" -}}
{{- printf "%s-vllm" (include "jan.fullname" .) }}
{{- end }}

{{- define "jan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "jan.labels" -}}
helm.sh/chart: {{ include "jan.chart" . }}
app.kubernetes.io/name: {{ include "jan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jan
{{- end }}

{{/* The server's selector labels. */}}
{{- define "jan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* The vLLM engine's selector labels. */}}
{{- define "jan.vllmSelectorLabels" -}}
app.kubernetes.io/name: {{ include "jan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: vllm
{{- end }}

{{- define "jan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jan.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "jan.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{- define "jan.databaseSecret" -}}
{{- default (printf "%s-database" (include "jan.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "jan.providersConfigMap" -}}
{{- default (printf "%s-providers" (include "jan.fullname" .)) .Values.providers.existingConfigMap }}
{{- end }}

{{/*
Whole seconds from a value that is a number (10) or a string ("10", "10s");
anything else fails. Call with (dict "name" "drainDelay" "value" .Values.drainDelay).
*/}}
{{- define "jan.seconds" -}}
{{- $v := .value }}
{{- if kindIs "invalid" $v }}
{{- fail (printf "%s: required (whole seconds, e.g. 10 or \"10s\")" .name) }}
{{- else if kindIs "string" $v }}
{{- if regexMatch "^[0-9]+s?$" $v }}
{{- trimSuffix "s" $v }}
{{- else }}
{{- fail (printf "%s: want whole seconds, e.g. 10 or \"10s\" (got %q)" .name $v) }}
{{- end }}
{{- else if or (kindIs "float64" $v) (kindIs "int" $v) (kindIs "int64" $v) }}
{{- if or (lt (float64 $v) 0.0) (ne (float64 $v) (float64 (int64 $v))) }}
{{- fail (printf "%s: want whole seconds ≥ 0 (got %v)" .name $v) }}
{{- end }}
{{- int64 $v }}
{{- else }}
{{- fail (printf "%s: want whole seconds, e.g. 10 or \"10s\" (got %v)" .name $v) }}
{{- end }}
{{- end }}

{{- define "jan.preStopSeconds" -}}
{{- include "jan.seconds" (dict "name" "preStopSleepSeconds" "value" .Values.preStopSleepSeconds) }}
{{- end }}
{{- define "jan.drainSeconds" -}}
{{- include "jan.seconds" (dict "name" "drainDelay" "value" .Values.drainDelay) }}
{{- end }}
{{- define "jan.graceSeconds" -}}
{{- include "jan.seconds" (dict "name" "shutdownGrace" "value" .Values.shutdownGrace) }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the preStop sleep, the drain and the grace,
plus the 5 s jan takes at most to end the streams the grace did not see
finish; a value set must cover at least the first three.
*/}}
{{- define "jan.terminationGracePeriodSeconds" -}}
{{- $preStop := include "jan.preStopSeconds" . | int }}
{{- $drain := include "jan.drainSeconds" . | int }}
{{- $grace := include "jan.graceSeconds" . | int }}
{{- $min := add $preStop $drain $grace }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $min 5 }}
{{- else }}
{{- $set := include "jan.seconds" (dict "name" "terminationGracePeriodSeconds" "value" .Values.terminationGracePeriodSeconds) | int }}
{{- if lt $set $min }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least preStopSleepSeconds + drainDelay + shutdownGrace (%d + %d + %d = %d); leave it empty to have it computed" $set $preStop $drain $grace $min) }}
{{- end }}
{{- $set }}
{{- end }}
{{- end }}

{{/* JAN_PUBLIC_URL. */}}
{{- define "jan.publicURL" -}}
{{- if .Values.publicURL }}
{{- .Values.publicURL | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := (first .Values.ingress.hosts).host }}
{{- $tls := false }}
{{- range .Values.ingress.tls }}
{{- if has $host (.hosts | default list) }}{{ $tls = true }}{{ end }}
{{- end }}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host }}
{{- else }}
{{- $port := int .Values.service.port }}
{{- if eq $port 80 }}
{{- printf "http://%s.%s.svc" (include "jan.fullname" .) .Release.Namespace }}
{{- else }}
{{- printf "http://%s.%s.svc:%d" (include "jan.fullname" .) .Release.Namespace $port }}
{{- end }}
{{- end }}
{{- end }}

{{/*
providers.yaml: providers.config, with provider "vllm" appended when the
chart runs vLLM and registers it.
*/}}
{{- define "jan.providersYAML" -}}
{{- $cfg := deepCopy (.Values.providers.config | default dict) }}
{{- if and .Values.vllm.enabled .Values.vllm.registerProvider }}
{{- $served := default .Values.vllm.model .Values.vllm.servedModelName }}
{{- $model := dict "id" (default $served .Values.vllm.publicModelID) "served_name" $served "capabilities" .Values.vllm.capabilities }}
{{- $p := dict "name" "vllm" "kind" "openai" "base_url" (printf "http://%s:%d" (include "jan.vllmName" .) (int .Values.vllm.port)) "models" (list $model) }}
{{- if .Values.vllm.apiKey.existingSecret }}
{{- $_ := set $p "headers" (dict "Authorization" "Bearer ${VLLM_API_KEY}") }}
{{- end }}
{{- $_ := set $cfg "providers" (append ($cfg.providers | default list) $p) }}
{{- $routing := $cfg.routing | default dict }}
{{- if not $routing.default_provider }}
{{- $_ := set $routing "default_provider" "vllm" }}
{{- $_ := set $cfg "routing" $routing }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
A secret-looking environment variable name: its value must come from a
Secret, never be written in values.
*/}}
{{- define "jan.secretLikeEnv" -}}
{{- if regexMatch "(?i)(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|_KEY$|^KEY$|^JAN_DB$|^DATABASE_URL$|PRIVATE)" . }}true{{ end }}
{{- end }}

{{/* Settings that cannot work together fail the render, saying why. */}}
{{- define "jan.validate" -}}
{{- $db := .Values.database.type }}
{{- if not (has $db (list "postgres" "sqlite")) }}
{{- fail (printf "database.type: want postgres or sqlite (got %q)" $db) }}
{{- end }}
{{- if eq $db "sqlite" }}
{{- if .Values.autoscaling.enabled }}
{{- fail "database.type sqlite serves one replica: set autoscaling.enabled=false (several replicas need Postgres)" }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail "database.type sqlite serves one replica: set replicaCount=1 (several replicas need Postgres)" }}
{{- end }}
{{- end }}
{{- if .Values.persistence.enabled }}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- fail "persistence.enabled is for a single (SQLite) replica: set replicaCount=1 and autoscaling.enabled=false" }}
{{- end }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
{{- if and .Values.keycloak.baseURL (not .Values.keycloak.clientSecret.existingSecret) }}
{{- fail "keycloak.baseURL is set: keycloak.clientSecret.existingSecret must name the Secret holding BACKEND_CLIENT_SECRET" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- if gt (include "jan.drainSeconds" . | int) (include "jan.graceSeconds" . | int) }}
{{- fail "drainDelay must not exceed shutdownGrace: jan drains within the grace" }}
{{- end }}
{{- $_ := include "jan.terminationGracePeriodSeconds" . }}
{{- range .Values.extraEnv }}
{{- if and (include "jan.secretLikeEnv" .name) (hasKey . "value") }}
{{- fail (printf "extraEnv %s looks like a secret: give it with valueFrom.secretKeyRef, not value" .name) }}
{{- end }}
{{- end }}
{{- if .Values.vllm.enabled }}
{{- if lt (int .Values.vllm.gpus) 1 }}
{{- fail "vllm.gpus: want at least 1 (vLLM's CUDA image needs a GPU)" }}
{{- end }}
{{- if and .Values.vllm.cache.persistence.enabled (not .Values.vllm.cache.persistence.existingClaim) (gt (int .Values.vllm.replicaCount) 1) (has "ReadWriteOnce" .Values.vllm.cache.persistence.accessModes) }}
{{- fail "vllm.cache.persistence: a ReadWriteOnce claim cannot serve several vLLM replicas; use ReadWriteMany or one replica" }}
{{- end }}
{{- end }}
{{- end }}
