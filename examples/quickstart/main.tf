# Imports a disk image file from UFile as a UHost custom image.
# Run it with `scripts/quickstart.sh`, which points the provider at ucloud-sim
# through UCLOUD_API_BASE_URL and the UCLOUD_* credentials.
terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

provider "ucloud" {}

resource "ucloud_custom_image" "demo" {
  name        = "quickstart-centos-7"
  ufile_url   = "https://my-bucket.cn-bj.ufileos.com/images/centos-7.qcow2"
  format      = "qcow2"
  os_type     = "CentOS"
  os_name     = "CentOS 7.6 64位"
  description = "imported by the quick start"
}

output "image_id" {
  value = ucloud_custom_image.demo.id
}

output "image_status" {
  value = ucloud_custom_image.demo.status
}
