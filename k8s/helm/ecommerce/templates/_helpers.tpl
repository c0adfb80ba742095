{{/* Labels of every resource; `name` is the component (app id, postgres, redis, ...). */}}
{{- define "ecommerce.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: ecommerce-dapr
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "ecommerce.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "ecommerce.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The restricted container securityContext every container of the chart runs with. */}}
{{- define "ecommerce.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
A secret value: the one given in values, else the one already in the cluster (kept across
upgrades), else a generated one. Args: root, name (Secret), key, value, generate.
*/}}
{{- define "ecommerce.secretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- $data := dig "data" (dict) $existing -}}
{{- if hasKey $data .key -}}
{{- index $data .key | b64dec -}}
{{- else -}}
{{- .generate -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ecommerce.redisAddress" -}}
{{- if .Values.redis.bundled -}}
redis:6379
{{- else -}}
{{- required "redis.external.address (host:port) is required when redis.bundled is false" .Values.redis.external.address -}}
{{- end -}}
{{- end -}}
