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

{{/* "true" when the operator runs with --leader-elect: asked for, more than one replica, or
more than one shard (each shard runs under a Lease of its own). */}}
{{- define "pbconnector.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) (gt (int .Values.shards) 1) }}true{{ end }}
{{- end }}

{{/* The operator image. There is no default: the image is built by scripts/build-image.sh and
pushed to the user's own registry (charts/pbconnector/README.md, step 0). */}}
{{- define "pbconnector.image" -}}
{{- $repository := required "image.repository is not set: build the image (scripts/build-image.sh), push it to your registry (README step 0) and install with --set image.repository=REGISTRY/pbconnector (plus image.tag or image.digest if not the chart's appVersion)" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the extra CA certificates are mounted (SSL_CERT_DIR). */}}
{{- define "pbconnector.caCertificatesDir" -}}
/etc/pbconnector/ca-certificates
{{- end }}

{{/* The watched namespaces, sorted and unique, comma-joined: watchNamespaces plus the older
single watchNamespace. Empty: all namespaces. */}}
{{- define "pbconnector.watchNamespaces" -}}
{{- $all := concat (.Values.watchNamespaces | default list) (ternary (list .Values.watchNamespace) list (ne .Values.watchNamespace "")) }}
{{- $all | uniq | sortAlpha | join "," }}
{{- end }}
