{{- define "courier.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "courier.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "courier.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* courier.yaml: the values' `config`, with the endpoint bound where the probes reach it. */}}
{{- define "courier.config" -}}
{{- $obs := dict "host" "0.0.0.0" "port" (int .Values.metricsPort) -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "observability" (mergeOverwrite (deepCopy (default (dict) $config.observability)) $obs) -}}
{{- toYaml $config -}}
{{- end -}}

{{- define "courier.prefix" -}}
{{- default "courier" (dig "kafka" "topicPrefix" "" .Values.config) -}}
{{- end -}}

{{/* The Deployments of the layout: name, roles (empty: all) and replicas. */}}
{{- define "courier.deployments" -}}
{{- if eq .Values.layout "split" -}}
- { name: router, roles: router, replicas: {{ .Values.split.router.replicas }} }
- { name: deliver, roles: "deliver,retry", replicas: {{ .Values.split.deliver.replicas }} }
{{- else -}}
- { name: all, roles: "", replicas: {{ .Values.replicas }} }
{{- end -}}
{{- end -}}

{{/* Seconds a pod gets to stop: shutdownTimeoutMs (default 30 s) and the margin. */}}
{{- define "courier.grace" -}}
{{- $ms := default 30000 (dig "shutdownTimeoutMs" 30000 .Values.config) -}}
{{- add (div (int $ms) 1000) (int .Values.terminationMarginSeconds) -}}
{{- end -}}
