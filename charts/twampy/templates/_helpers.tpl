{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "twampy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; component suffixes are appended to it, so keep room for them. */}}
{{- define "twampy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "twampy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "twampy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: pass (list $ "responder") or (list $ "sender"). */}}
{{- define "twampy.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "twampy.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "twampy.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "twampy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "twampy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Headless Service of the responders; its DNS name lists every ready responder pod. */}}
{{- define "twampy.responderService" -}}
{{- printf "%s-responder" (include "twampy.fullname" .) }}
{{- end }}

{{- define "twampy.responderFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "twampy.responderService" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* ADDR:PORT the responder binds; IPv6 addresses are bracketed. */}}
{{- define "twampy.responderListen" -}}
{{- $addr := .Values.twamp.listenAddress -}}
{{- if contains ":" $addr }}
{{- printf "[%s]:%d" $addr (int .Values.twamp.port) }}
{{- else }}
{{- printf "%s:%d" $addr (int .Values.twamp.port) }}
{{- end }}
{{- end }}

{{/* Environment variable that names this node in the source label. */}}
{{- define "twampy.sourceNameVar" -}}
{{- if eq .Values.sourceName "hostIP" }}HOST_IP{{ else if eq .Values.sourceName "podIP" }}POD_IP{{ else }}NODE_NAME{{ end }}
{{- end }}

{{/* Downward-API environment shared by both containers, plus the OTLP settings. */}}
{{- define "twampy.env" -}}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: HOST_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- if .Values.telemetry.otlp.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.telemetry.otlp.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ .Values.telemetry.otlp.protocol | quote }}
- name: OTEL_METRIC_EXPORT_INTERVAL
  value: {{ .Values.telemetry.otlp.exportInterval | quote }}
- name: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
  value: {{ .Values.telemetry.otlp.temporality | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.node.name=$(NODE_NAME),k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)"
{{- end }}
{{- end }}

{{/* Pod-level settings shared by both DaemonSets: pass (list $ podSecurityContext). */}}
{{- define "twampy.podSpecCommon" -}}
{{- $psc := index . 1 -}}
{{- with index . 0 -}}
serviceAccountName: {{ include "twampy.serviceAccountName" . }}
automountServiceAccountToken: false
{{- if .Values.hostNetwork }}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $psc | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
terminationGracePeriodSeconds: 15
{{- end }}
{{- end }}

{{/* Pod annotations for annotation-based Prometheus scraping. */}}
{{- define "twampy.scrapeAnnotations" -}}
{{- $ := index . 0 -}}
{{- if $.Values.telemetry.prometheus.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ index . 1 | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* Health probes on the metrics server: pass (list $ port). */}}
{{- define "twampy.probes" -}}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  initialDelaySeconds: 10
  periodSeconds: 20
  timeoutSeconds: 3
  failureThreshold: 3
{{- end }}
