{{- define "ppo.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ppo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ppo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ppo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ppo.labels" -}}
{{ include "ppo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "ppo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ppo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /*
The namespaces the operator watches, comma-separated: watchNamespaces plus the deprecated
watchNamespace; none given: the release namespace. Empty with rbac.clusterWide (every namespace).
*/ -}}
{{- define "ppo.watchNamespaces" -}}
{{- $list := .Values.watchNamespaces | default list -}}
{{- with .Values.watchNamespace }}{{ $list = append $list . }}{{ end -}}
{{- if .Values.rbac.clusterWide -}}
{{- if $list }}{{ fail "rbac.clusterWide watches every namespace: leave watchNamespaces (and watchNamespace) empty" }}{{ end -}}
{{- else -}}
{{- if not $list }}{{ $list = list .Release.Namespace }}{{ end -}}
{{- $list | uniq | join "," -}}
{{- end -}}
{{- end -}}

{{- /* What the operator may do with PaymentPipelines and their children (rbac.yaml). */ -}}
{{- define "ppo.rules" -}}
- apiGroups: ["payments.example.com"]
  resources: ["paymentpipelines"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["payments.example.com"]
  resources: ["paymentpipelines/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors"]
  verbs: ["get", "create", "patch", "update", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- if has "binlog" (splitList "," .Values.duties.enabled) }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
{{- end -}}
