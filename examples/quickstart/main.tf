# Uploads a local disk image file to UFile and imports it as a UHost custom
# image, in one apply. Run it with `scripts/quickstart.sh`, which makes the
# file, and points the provider at ucloud-sim through UCLOUD_API_BASE_URL,
# UCLOUD_UFILE_BASE_URL (the simulator plays UFile) and the UCLOUD_*
# credentials.
terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

provider "ucloud" {}

variable "image_file" {
  description = "The local image file to import."
  type        = string
  default     = "centos-7.qcow2"
}

variable "format" {
  description = "The file's format. The quick start also tries RAW, which the check of the file refuses."
  type        = string
  default     = "qcow2"
}

resource "ucloud_custom_image" "demo" {
  name        = "quickstart-centos-7"
  format      = var.format
  os_type     = "CentOS"
  os_name     = "CentOS 7.6 64位"
  description = "imported by the quick start"

  source {
    path   = var.image_file
    bucket = "my-bucket"
  }
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

output "staged_url" {
  value = ucloud_custom_image.demo.ufile_url
}
