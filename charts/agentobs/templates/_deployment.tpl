{{/*
Deployment of one agentobs component. Takes a dict with:
  context     the root context
  component   all-in-one, receiver or operator (the app.kubernetes.io/component label)
  name        the Deployment name
  subcommand  the `agentobs` subcommand: run, receiver or operator
  replicas    the replica count
  resources   the container's resource requests and limits
  heartbeats  true when the component serves the heartbeat API
*/}}
{{- define "agentobs.deployment" -}}
{{- $root := .context }}
{{- $values := $root.Values }}
{{- $labelArgs := dict "context" $root "component" .component }}
{{- $staticTokens := and .heartbeats $values.config.staticTokens.existingSecret }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "agentobs.componentLabels" $labelArgs | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "agentobs.componentSelectorLabels" $labelArgs | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "agentobs.componentLabels" $labelArgs | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "agentobs.serviceAccountName" $root }}
      {{- /* The process talks to the API server with its ServiceAccount token. */}}
      automountServiceAccountToken: true
      {{- with $values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $values.podSecurityContext | nindent 8 }}
      containers:
        - name: agentobs
          image: {{ include "agentobs.image" $root }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          args:
            - {{ .subcommand }}
          ports:
            - name: http
              containerPort: {{ $values.port }}
              protocol: TCP
          env:
            - name: AGENTOBS_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "agentobs.databaseSecretName" $root }}
                  key: {{ include "agentobs.databaseSecretKey" $root }}
            - name: AGENTOBS_PORT
              value: {{ $values.port | quote }}
            - name: AGENTOBS_LISTEN_HOST
              value: "0.0.0.0"
            - name: AGENTOBS_TOKEN_AUDIENCE
              value: {{ $values.config.tokenAudience | quote }}
            - name: AGENTOBS_ALLOW_UNAUTHENTICATED
              value: {{ $values.config.allowUnauthenticated | quote }}
            {{- if $staticTokens }}
            - name: AGENTOBS_STATIC_TOKENS_FILE
              value: /etc/agentobs/static-tokens/{{ $values.config.staticTokens.key }}
            {{- end }}
            - name: AGENTOBS_STATUS_INTERVAL
              value: {{ $values.config.statusInterval | quote }}
            - name: AGENTOBS_STATUS_QPS
              value: {{ $values.config.statusQps | quote }}
            - name: AGENTOBS_STATUS_BURST
              value: {{ $values.config.statusBurst | quote }}
            - name: AGENTOBS_RESYNC_INTERVAL
              value: {{ $values.config.resyncInterval | quote }}
            - name: AGENTOBS_STALE_AFTER
              value: {{ $values.config.staleAfter | quote }}
            - name: AGENTOBS_STATUS_MAX_MODELS
              value: {{ $values.config.statusMaxModels | quote }}
            - name: AGENTOBS_MIGRATE_ON_START
              value: {{ $values.config.migrateOnStart | quote }}
            - name: AGENTOBS_SAMPLE_RETENTION
              value: {{ $values.config.sampleRetention | quote }}
            - name: AGENTOBS_MAX_UNREGISTERED_AGENTS
              value: {{ $values.config.maxUnregisteredAgents | quote }}
            - name: AGENTOBS_LOG_LEVEL
              value: {{ $values.config.logLevel | quote }}
            - name: AGENTOBS_LOG_FORMAT
              value: {{ $values.config.logFormat | quote }}
            {{- with $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $values.livenessProbe | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            {{- toYaml $values.readinessProbe | nindent 12 }}
          resources:
            {{- toYaml .resources | nindent 12 }}
          securityContext:
            {{- toYaml $values.securityContext | nindent 12 }}
          volumeMounts:
            {{- /* Python and its libraries may write temporary files. */}}
            - name: tmp
              mountPath: /tmp
            {{- if $staticTokens }}
            - name: static-tokens
              mountPath: /etc/agentobs/static-tokens
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if $staticTokens }}
        - name: static-tokens
          secret:
            secretName: {{ $values.config.staticTokens.existingSecret }}
            items:
              - key: {{ $values.config.staticTokens.key }}
                path: {{ $values.config.staticTokens.key }}
        {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        - {{ toYaml (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" (include "agentobs.componentSelectorLabels" $labelArgs | fromYaml)))) | nindent 10 | trim }}
        {{- end }}
      {{- end }}
{{- end }}
