# Imports a disk image file from UFile as a UHost custom image.
# Run it with `scripts/quickstart.sh`, which points the provider at ucloud-sim
# through UCLOUD_API_BASE_URL, UCLOUD_UFILE_BASE_URL (the simulator serves the
# file) and the UCLOUD_* credentials.
terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

provider "ucloud" {}

variable "format" {
  description = "The file's format. The quick start also tries RAW, which the check before the import refuses."
  type        = string
  default     = "qcow2"
}

resource "ucloud_custom_image" "demo" {
  name        = "quickstart-centos-7"
  ufile_url   = "https://my-bucket.cn-bj.ufileos.com/images/centos-7.qcow2"
  format      = var.format
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

output "source_size" {
  value = ucloud_custom_image.demo.source_size
}
