resource "ucloud_custom_image" "centos" {
  name        = "centos-7-golden"
  ufile_url   = "https://my-bucket.cn-bj.ufileos.com/images/centos-7.qcow2"
  format      = "qcow2"
  os_type     = "CentOS"
  os_name     = "CentOS 7.6 64位"
  description = "golden image built by packer"

  timeouts {
    create = "90m"
  }
}
