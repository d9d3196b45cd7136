{{/*
Chart name, truncated to the 63 characters a label value may have.
*/}}
{{- define "agentobs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name: the release name, followed by the chart name
unless the release name already contains it.
*/}}
{{- define "agentobs.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "agentobs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "agentobs.labels" -}}
helm.sh/chart: {{ include "agentobs.chart" . }}
{{ include "agentobs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentobs
{{- end }}

{{/*
Labels that select the pods of this release. They never change after
installation, because a Deployment's selector is immutable.
*/}}
{{- define "agentobs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentobs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's resources. Takes a dict with "context" (the root
context) and "component" (all-in-one, receiver, operator or postgresql).
*/}}
{{- define "agentobs.componentLabels" -}}
{{ include "agentobs.labels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component's pods. Takes the same dict as componentLabels.
*/}}
{{- define "agentobs.componentSelectorLabels" -}}
{{ include "agentobs.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Name of the ServiceAccount the agentobs pods run as.
*/}}
{{- define "agentobs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agentobs.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The agentobs image reference: the digest when one is set, otherwise the tag,
which defaults to the chart's appVersion.
*/}}
{{- define "agentobs.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of a component's resources: the full name and a suffix. Takes a list of
the root context and the suffix.
*/}}
{{- define "agentobs.componentName" -}}
{{- printf "%s-%s" (include "agentobs.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the trial Postgres StatefulSet, its Service and its Secret.
*/}}
{{- define "agentobs.postgresql.fullname" -}}
{{- include "agentobs.componentName" (list . "postgresql") }}
{{- end }}

{{/*
Secret name and key of the Postgres DSN. Fails with the fix when neither the
trial Postgres nor an existing Secret is configured.
*/}}
{{- define "agentobs.databaseSecretName" -}}
{{- if .Values.postgresql.enabled }}
{{- include "agentobs.postgresql.fullname" . }}
{{- else if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- fail "database.existingSecret is empty: set it to the name of a Secret holding the Postgres DSN under database.secretKey, or set postgresql.enabled=true for a trial database" }}
{{- end }}
{{- end }}

{{- define "agentobs.databaseSecretKey" -}}
{{- if .Values.postgresql.enabled }}dsn{{ else }}{{ .Values.database.secretKey }}{{ end }}
{{- end }}

{{/*
Component whose pods the heartbeat Service selects in the current mode.
*/}}
{{- define "agentobs.heartbeatComponent" -}}
{{- if eq .Values.mode "split" }}receiver{{ else }}all-in-one{{ end }}
{{- end }}

{{/*
URL agents in the cluster send heartbeats to.
*/}}
{{- define "agentobs.heartbeatUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "agentobs.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}

{{/*
Labels of the trial Postgres. Its app.kubernetes.io/name is "postgresql", so
selectors of the agentobs pods (name "agentobs") never match it.
*/}}
{{- define "agentobs.postgresql.labels" -}}
helm.sh/chart: {{ include "agentobs.chart" . }}
{{ include "agentobs.postgresql.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.postgresql.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentobs
{{- end }}

{{- define "agentobs.postgresql.selectorLabels" -}}
app.kubernetes.io/name: postgresql
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: database
{{- end }}
