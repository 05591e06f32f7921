{{/* Names and labels. */}}

{{- define "weft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "weft.fullname" -}}
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

{{- define "weft.selectorLabels" -}}
app.kubernetes.io/name: {{ include "weft.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "weft.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "weft.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "weft.serviceName" -}}
{{- default (include "weft.fullname" .) .Values.service.name }}
{{- end }}

{{- define "weft.grpcServiceName" -}}
{{- default (printf "%s-grpc" (include "weft.fullname" .)) .Values.grpcService.name }}
{{- end }}

{{- define "weft.metricsServiceName" -}}
{{- default (printf "%s-metrics" (include "weft.fullname" .)) .Values.metricsService.name }}
{{- end }}

{{- define "weft.headlessServiceName" -}}
{{- printf "%s-headless" (include "weft.fullname" .) }}
{{- end }}

{{/* A value read as a boolean the way weft reads the environment (true/1/on/enabled). */}}
{{- define "weft.truthy" -}}
{{- if eq (toString . | lower | trim) "true" "1" "on" "enabled" }}true{{ end }}
{{- end }}

{{- define "weft.metricsEnabled" -}}
{{- include "weft.truthy" (.Values.env.PROMETHEUS_MONITORING_ENABLED | default false) }}
{{- end }}

{{- define "weft.metricsPort" -}}
{{- include "weft.envValue" (.Values.env.PROMETHEUS_MONITORING_PORT | default 2112) }}
{{- end }}

{{/*
An environment value as text. Helm reads every number in values as a float, and prints a
large one as 1.04858e+08: whole numbers are printed as integers instead.
*/}}
{{- define "weft.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* Shutdown: the server's graceful timeout and the pod's grace period derived from it. */}}
{{- define "weft.gracefulTimeoutSeconds" -}}
{{- $g := .Values.shutdown.gracefulTimeoutSeconds }}
{{- $whole := or (kindIs "int" $g) (kindIs "int64" $g) (and (kindIs "float64" $g) (eq $g (float64 (int64 $g)))) }}
{{- if not (and $whole (gt (int64 $g) 0)) }}
{{- fail (printf "shutdown.gracefulTimeoutSeconds must be a whole number of seconds > 0, got %v" $g) }}
{{- end }}
{{- int64 $g }}
{{- end }}

{{- define "weft.terminationGracePeriodSeconds" -}}
{{- $g := int64 (include "weft.gracefulTimeoutSeconds" .) }}
{{- $drain := mul 2 $g }}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
{{- $t := int64 .Values.terminationGracePeriodSeconds }}
{{- if le $t $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be more than 2 x shutdown.gracefulTimeoutSeconds (%d), or Kubernetes kills weft before it closes the database; leave it null to derive it" $t $drain) }}
{{- end }}
{{- $t }}
{{- else }}
{{- $flush := int64 .Values.shutdown.flushSeconds }}
{{- if le $flush 0 }}
{{- fail "shutdown.flushSeconds must be > 0" }}
{{- end }}
{{- add $drain $flush }}
{{- end }}
{{- end }}

{{/* The API-key Secret: the chart's own, or an existing one. */}}
{{- define "weft.apikeySecretName" -}}
{{- default (printf "%s-apikeys" (include "weft.fullname" .)) .Values.authentication.apikey.existingSecret }}
{{- end }}

{{- define "weft.createApikeySecret" -}}
{{- if and .Values.authentication.apikey.enabled (not .Values.authentication.apikey.existingSecret) }}true{{ end }}
{{- end }}

{{/* ENABLE_MODULES: the enabled backup backends. */}}
{{- define "weft.modules" -}}
{{- $m := list }}
{{- range $backend := list "filesystem" "s3" "gcs" "azure" }}
{{- if (index $.Values.backups $backend).enabled }}
{{- $m = append $m (printf "backup-%s" $backend) }}
{{- end }}
{{- end }}
{{- join "," $m }}
{{- end }}

{{/* The volume holding filesystem backups: "claim", "existing" or "emptyDir". */}}
{{- define "weft.backupVolumeKind" -}}
{{- $fs := .Values.backups.filesystem }}
{{- if $fs.existingClaim }}existing
{{- else if $fs.storage.size }}claim
{{- else }}emptyDir
{{- end }}
{{- end }}

{{/* Checks that stop the render with a clear message instead of a pod that cannot start. */}}
{{- define "weft.validate" -}}
{{- $r := int64 .Values.replicas }}
{{- if or (lt $r 0) (gt $r 1) }}
{{- fail (printf "replicas is %d: weft has no clustering yet, so only 0 or 1 replica is supported (every replica would be a separate database behind one Service)" $r) }}
{{- end }}
{{- if .Values.authentication.oidc.enabled }}
{{- fail "authentication.oidc.enabled: weft does not support OIDC yet (the server refuses AUTHENTICATION_OIDC_ENABLED=true at startup); use API keys" }}
{{- end }}
{{- if .Values.authorization.rbac.enabled }}
{{- fail "authorization.rbac.enabled: weft does not support RBAC yet; use authorization.admin_list" }}
{{- end }}
{{- $ak := .Values.authentication.apikey }}
{{- if and $ak.enabled (not $ak.existingSecret) }}
{{- if not $ak.allowed_keys }}
{{- fail "authentication.apikey.enabled needs authentication.apikey.allowed_keys (or existingSecret)" }}
{{- end }}
{{- if not $ak.users }}
{{- fail "authentication.apikey.enabled needs authentication.apikey.users: one user for all keys or one per key" }}
{{- end }}
{{- if and (gt (len $ak.users) 1) (ne (len $ak.users) (len $ak.allowed_keys)) }}
{{- fail (printf "authentication.apikey.users has %d entries for %d keys: give one user for all keys or one per key" (len $ak.users) (len $ak.allowed_keys)) }}
{{- end }}
{{- range $ak.allowed_keys }}
{{- if or (not .) (contains "," (toString .)) }}
{{- fail "authentication.apikey.allowed_keys: a key must be non-empty and contain no comma" }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (not .Values.authentication.anonymous_access.enabled) (not $ak.enabled) }}
{{- fail "authentication: with anonymous_access disabled, enable apikey, or no request can get in" }}
{{- end }}
{{- range $name := list "PERSISTENCE_DATA_PATH" "HOST" "PORT" "GRPC_PORT" }}
{{- if or (hasKey $.Values.env $name) (hasKey ($.Values.envSecrets | default dict) $name) }}
{{- fail (printf "env.%s is set by the chart (the volume, Services and probes depend on it) and cannot be changed" $name) }}
{{- end }}
{{- range $.Values.extraEnv }}
{{- if eq .name $name }}
{{- fail (printf "extraEnv %s is set by the chart (the volume, Services and probes depend on it) and cannot be changed" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.backups.filesystem.enabled }}
{{- $p := toString (.Values.backups.filesystem.envconfig.BACKUP_FILESYSTEM_PATH | default "") }}
{{- if not (hasPrefix "/" $p) }}
{{- fail "backups.filesystem.envconfig.BACKUP_FILESYSTEM_PATH must be an absolute directory" }}
{{- end }}
{{- if or (eq (trimSuffix "/" $p) "/var/lib/weaviate") (hasPrefix "/var/lib/weaviate/" $p) }}
{{- fail "backups.filesystem.envconfig.BACKUP_FILESYSTEM_PATH must not be inside the data volume (/var/lib/weaviate): a backup there is lost with it" }}
{{- end }}
{{- end }}
{{- if and .Values.backups.s3.enabled (not .Values.backups.s3.envconfig.BACKUP_S3_BUCKET) }}
{{- fail "backups.s3.enabled needs backups.s3.envconfig.BACKUP_S3_BUCKET" }}
{{- end }}
{{- if and .Values.backups.gcs.enabled (not .Values.backups.gcs.envconfig.BACKUP_GCS_BUCKET) }}
{{- fail "backups.gcs.enabled needs backups.gcs.envconfig.BACKUP_GCS_BUCKET" }}
{{- end }}
{{- if and .Values.backups.azure.enabled (not .Values.backups.azure.envconfig.BACKUP_AZURE_CONTAINER) }}
{{- fail "backups.azure.enabled needs backups.azure.envconfig.BACKUP_AZURE_CONTAINER" }}
{{- end }}
{{- end }}

{{/* A probe from Weaviate's shape: probeType names the handler inside `probe`. */}}
{{- define "weft.probe" -}}
{{- $handler := index (.probe | default dict) .probeType }}
{{- if not $handler }}
{{- fail (printf "probe type %q has no handler under probe.%s" .probeType .probeType) }}
{{- end -}}
{{ .probeType }}:
  {{- toYaml $handler | nindent 2 }}
initialDelaySeconds: {{ int64 .initialDelaySeconds }}
periodSeconds: {{ int64 .periodSeconds }}
failureThreshold: {{ int64 .failureThreshold }}
successThreshold: {{ int64 .successThreshold }}
timeoutSeconds: {{ int64 .timeoutSeconds }}
{{- end }}
