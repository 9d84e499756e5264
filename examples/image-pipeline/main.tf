# An image pipeline: upload and import the images a build left on disk once
# in cn-bj2 (where UCloud imports best), look up the newest app image, copy it into every other
# region hosts are launched in, and hand out one image id per region.
terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

provider "ucloud" {
  region     = var.import_region
  project_id = var.project_id
}

variable "import_region" {
  type        = string
  description = "Where the build's disk images are imported."
  default     = "cn-bj2"
}

variable "project_id" {
  type        = string
  description = "The project the images live in (copies need a project id)."
  default     = "org-example"
}

variable "copy_regions" {
  type        = set(string)
  description = "The other regions that launch hosts from the app image."
  default     = ["cn-sh2", "hk"]
}

variable "image_dir" {
  type        = string
  description = "Where the build (Packer's qemu builder, virt-builder, ...) left base.qcow2 and app.qcow2."
  default     = "output"
}

variable "staging_bucket" {
  type        = string
  description = "The UFile bucket the images are staged in; the staged files are deleted after the import."
  default     = "build-artifacts"
}

variable "build_id" {
  type        = string
  description = "Identifier of the build, used in image names."
  default     = "build-1842"
}

module "golden" {
  source = "./modules/golden-images"

  image_dir = var.image_dir
  bucket    = var.staging_bucket
  build_id  = var.build_id
}

# The newest app image in the import region: the one just imported.
data "ucloud_custom_image" "app" {
  name_regex  = "^app-"
  most_recent = true

  depends_on = [module.golden]
}

resource "ucloud_custom_image_copy" "app" {
  for_each = var.copy_regions

  source_image_id = data.ucloud_custom_image.app.id
  source_region   = var.import_region
  region          = each.key

  timeouts {
    create = "90m"
  }

  # A new build's copy exists before the old one is deleted.
  lifecycle {
    create_before_destroy = true
  }
}

output "app_image_ids" {
  description = "The app image's id in every region: the import and its copies."
  value = merge(
    { (var.import_region) = data.ucloud_custom_image.app.id },
    { for region, copy in ucloud_custom_image_copy.app : region => copy.id },
  )
}

output "base_image_id" {
  value = module.golden.base_image_id
}
