{{/* Chart name, overridable. */}}
{{- define "pbconnector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name added unless it already holds it. */}}
{{- define "pbconnector.fullname" -}}
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

{{- define "pbconnector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "pbconnector.labels" -}}
helm.sh/chart: {{ include "pbconnector.chart" . }}
{{ include "pbconnector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: pbconnector
{{- end }}

{{/* Labels that select the operator's pods; never change them between releases. */}}
{{- define "pbconnector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pbconnector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pbconnector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pbconnector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when the operator runs with --leader-elect. */}}
{{- define "pbconnector.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{- define "pbconnector.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The watched namespaces, sorted and unique, comma-joined: watchNamespaces plus the older
single watchNamespace. Empty: all namespaces. */}}
{{- define "pbconnector.watchNamespaces" -}}
{{- $all := concat (.Values.watchNamespaces | default list) (ternary (list .Values.watchNamespace) list (ne .Values.watchNamespace "")) }}
{{- $all | uniq | sortAlpha | join "," }}
{{- end }}
