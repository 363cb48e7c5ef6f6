# Test only: the base of the kind node stand-in, after kind's own images/base/Dockerfile (kind
# v$KIND_VERSION), on a Debian bookworm root from mmdebstrap (node-image.sh builds ROOTFS) with
# Debian's containerd, runc and CNI plugins instead of kind's builds of newer ones. The context
# holds kind's images/base/files (copied from kind's Go module by node-image.sh) and crictl.
ARG ROOTFS
FROM ${ROOTFS}
COPY kind-files/usr/local/bin/ /usr/local/bin/
COPY kind-files/kind/ /kind/
COPY kind-files/etc/ /etc/
COPY crictl /usr/local/bin/crictl
# kind's config.toml is containerd's version-2 format, which Debian's containerd 1.6 reads. Two
# lines change: the sandbox image, to the pause tag kubeadm of this Kubernetes expects
# (PAUSE_IMAGE); and restrict_oom_score_adj, as kind sets it for rootless nodes: without
# CAP_SYS_RESOURCE (see runc-without-sys-resource) no process may lower its OOM score, so
# containerd keeps 0 and must not ask runc for the negative scores of the kubelet's pods
# (runc then fails with "can't get final child's PID from pipe").
ARG PAUSE_IMAGE
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN chmod 0755 /kind /kind/bin /kind/bin/* /usr/local/bin/* \
    && sed -i "s#^  sandbox_image = .*#  sandbox_image = \"${PAUSE_IMAGE}\"#" /etc/containerd/config.toml \
    && grep -q "sandbox_image = \"${PAUSE_IMAGE}\"" /etc/containerd/config.toml \
    && sed -i "s#restrict_oom_score_adj = false#restrict_oom_score_adj = true#" /etc/containerd/config.toml \
    && grep -q "restrict_oom_score_adj = true" /etc/containerd/config.toml \
    && ln -s /usr/bin/containerd /usr/local/bin/containerd \
    && mkdir -p /opt/cni && ln -s /usr/lib/cni /opt/cni/bin \
    && ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf /usr/lib/systemd/systemd /sbin/init \
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
