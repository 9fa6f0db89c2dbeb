{{/* Chart name, possibly overridden. */}}
{{- define "carplb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified release name; every object name starts with it. */}}
{{- define "carplb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "carplb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "carplb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* selectorLabels: call with (dict "ctx" $ "component" "controller"). */}}
{{- define "carplb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "carplb.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "carplb.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "carplb.controllerName" -}}{{ include "carplb.fullname" . }}-controller{{- end -}}
{{- define "carplb.agentName" -}}{{ include "carplb.fullname" . }}-agent{{- end -}}
{{- define "carplb.carpSecretName" -}}
{{- default (printf "%s-carp" (include "carplb.fullname" .)) .Values.carp.existingSecret -}}
{{- end -}}
{{- define "carplb.controllerTLSSecretName" -}}
{{- default (printf "%s-controller-tls" (include "carplb.fullname" .)) .Values.tls.existingControllerSecret -}}
{{- end -}}
{{- define "carplb.agentTLSSecretName" -}}
{{- default (printf "%s-agent-tls" (include "carplb.fullname" .)) .Values.tls.existingAgentSecret -}}
{{- end -}}

{{/* Effective CARP timers of the chosen profile, as YAML keys of the controller config. */}}
{{- define "carplb.timers" -}}
{{- $p := .Values.timers.profile -}}
{{- $t := dict -}}
{{- if eq $p "default" -}}
{{- $t = dict "advbase" 1 "advskewBase" 0 "advskewSpacing" 50 -}}
{{- else if eq $p "fast" -}}
{{- $t = dict "advbase" 0 "advskewBase" 20 "advskewSpacing" 40 -}}
{{- else if eq $p "custom" -}}
{{- $c := .Values.timers.custom -}}
{{- if and (eq (int $c.advbase) 0) (eq (int $c.advskewBase) 0) -}}
{{- fail "timers.custom: advbase 0 needs advskewBase >= 1 (the advert interval would be 0)" -}}
{{- end -}}
{{- $t = dict "advbase" (int $c.advbase) "advskewBase" (int $c.advskewBase) "advskewSpacing" (int $c.advskewSpacing) -}}
{{- else -}}
{{- fail (printf "timers.profile: must be default, fast or custom, got %q" $p) -}}
{{- end -}}
{{- $top := add (index $t "advskewBase") (mul (int .Values.maxBackups) (index $t "advskewSpacing")) -}}
{{- if gt (int $top) 200 -}}
{{- fail (printf "timers: advskewBase + maxBackups * advskewSpacing must be <= 200, got %d (profile %s, maxBackups %d)" (int $top) $p (int .Values.maxBackups)) -}}
{{- end -}}
timerProfile: {{ $p }}
advbase: {{ index $t "advbase" }}
advskewBase: {{ index $t "advskewBase" }}
advskewSpacing: {{ index $t "advskewSpacing" }}
{{- end -}}

{{/* The agent's effective SCHED_RR priority (0 = off): agent.realtimePriority, where "auto" is
     50 for sub-second timers (profile fast, or custom with advbase 0) and 0 otherwise. */}}
{{- define "carplb.agentRealtimePriority" -}}
{{- $v := .Values.agent.realtimePriority -}}
{{- if eq (toString $v) "auto" -}}
{{- $p := .Values.timers.profile -}}
{{- if or (eq $p "fast") (and (eq $p "custom") (eq (int .Values.timers.custom.advbase) 0)) -}}
50
{{- else -}}
0
{{- end -}}
{{- else -}}
{{- int $v -}}
{{- end -}}
{{- end -}}
