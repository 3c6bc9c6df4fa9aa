{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "crmgw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "crmgw.fullname" -}}
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

{{- define "crmgw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crmgw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "crmgw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "crmgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "crmgw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crmgw.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The gateway configuration: values.config with the listeners the pod
exposes and, when redis.address is set, the shared Redis store.
*/}}
{{- define "crmgw.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "server" (mergeOverwrite (default (dict) (get $cfg "server")) (dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port)))) }}
{{- $_ := set $cfg "admin" (mergeOverwrite (default (dict) (get $cfg "admin")) (dict "listen" (printf "0.0.0.0:%d" (int .Values.admin.port)))) }}
{{- if .Values.redis.address }}
{{- $rl := default (dict) (get $cfg "ratelimit") }}
{{- $redis := dict "url" (printf "redis://%s/%d" .Values.redis.address (int .Values.redis.db)) }}
{{- if .Values.redis.passwordSecret.name }}
{{- $_ := set $redis "password" "${CRMGW_REDIS_PASSWORD}" }}
{{- end }}
{{- $_ := set $rl "store" "redis" }}
{{- $_ := set $rl "redis" $redis }}
{{- $_ := set $cfg "ratelimit" $rl }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
