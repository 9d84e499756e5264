# A file Packer's qemu builder left on disk, uploaded to UFile and imported in
# one apply. The upload resumes after an interruption; the staged object is
# deleted once the image is Available.
resource "ucloud_custom_image" "from_disk" {
  name    = "centos-7-packer"
  format  = "qcow2"
  os_type = "CentOS"
  os_name = "CentOS 7.6 64位"

  source {
    path        = "output/centos-7.qcow2"
    bucket      = "my-staging-bucket"
    concurrency = 8
  }

  timeouts {
    create = "2h"
  }
}
